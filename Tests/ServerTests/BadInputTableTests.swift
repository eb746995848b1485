import Contracts
import Crypto
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Storage
import Testing
import Vault

/// The bad-input table (docs/security.md, "Bad-input table"): malformed, oversize, nested, foreign,
/// replayed and out-of-role requests over HTTP, each with its status and error code, and after each
/// a check that nothing changed on-chain or in the vault. The world is built once for the suite.
@Suite("Bad-input table over HTTP: each refusal is specific and changes nothing", .serialized, BadInputWorld.Scope())
struct BadInputTableTests {
    @Test(.timeLimit(.minutes(5)), arguments: BadInputRows.v1)
    func v1(_ row: BadInputRow) async throws { try await BadInputWorld.run(row) }

    @Test(.timeLimit(.minutes(5)), arguments: BadInputRows.fhir)
    func fhir(_ row: BadInputRow) async throws { try await BadInputWorld.run(row) }

    /// The control: what the rows are refused, the same requests done rightly change the snapshot,
    /// so an unchanged one means the refusal held.
    @Test(.timeLimit(.minutes(3)))
    func theSnapshotSeesAcceptedWritesAndPermittedReads() async throws {
        let world = try #require(BadInputWorld.current)
        let before = try await world.snapshot()
        let doctor = try #require(world.tokens[.doctor])
        let bytes = try await BadInputRows.tx({ $0.fixture.doctor }, BadInputRows.anchor)(world)
        try await world.client.execute(uri: "/v1/txs?wait=true", method: .post,
                                       headers: [.authorization: "Bearer \(doctor)", .contentType: "application/octet-stream"],
                                       body: ByteBuffer(bytes: bytes)) { #expect($0.status == .ok, "\(String(buffer: $0.body))") }
        try await world.client.execute(uri: world.fill("/fhir/Observation/{obs}"), method: .get, headers: [.authorization: "Bearer \(doctor)"]) {
            #expect($0.status == .ok, "\(String(buffer: $0.body))")
        }
        let after = try await world.snapshot()
        #expect(after.logSize == before.logSize + 1 && after.stateRoot != before.stateRoot && after.audit == before.audit + 1, "\(before) → \(after)")
    }

    @Test func theTableIsAsLargeAsDocumented() {
        #expect(BadInputRows.v1.count + BadInputRows.fhir.count >= 60)
        #expect(Set((BadInputRows.v1 + BadInputRows.fhir).map(\.name)).count == BadInputRows.v1.count + BadInputRows.fhir.count, "row names are unique")
    }
}

/// Who makes a request: the bearer token it carries.
enum Caller: String, Sendable {
    case nobody, doctor, nurse, pharmacist, auditor, payerAgent, patient, clinicDoctor, hospital
    /// A token the node signed for an identity that is not on the ledger.
    case stranger
    /// A token the node signed, but expired an hour ago.
    case expired
    /// A token signed by another node's key.
    case otherNode
    /// A token this node signed for another chain's audience.
    case otherChain
    /// The doctor's token scoped to reading Patient resources only.
    case narrowScope
}

/// One row: a request, who makes it, and the exact refusal it must get.
struct BadInputRow: Sendable, CustomTestStringConvertible {
    let name: String
    let caller: Caller
    let method: HTTPRequest.Method
    /// `{record}` (the Observation's ledger record id), `{obs}` (its FHIR id), `{patient}` (the
    /// patient's identity id) and `{pat}` (their FHIR Patient id) are filled in from the world.
    let uri: String
    let headers: [(String, String)]
    let body: (@Sendable (BadInputWorld) async throws -> [UInt8])?
    let status: Int
    /// The `error` field (/v1, /auth) or the OperationOutcome's first issue code (/fhir).
    let code: String
    /// Audit entries the row adds: a denied read is logged by design (1); a refusal before any decision adds none.
    let audited: UInt64

    init(_ name: String, _ caller: Caller, _ method: HTTPRequest.Method, _ uri: String, headers: [(String, String)] = [],
         text: String? = nil, body: (@Sendable (BadInputWorld) async throws -> [UInt8])? = nil,
         _ status: Int, _ code: String, audited: UInt64 = 0) {
        (self.name, self.caller, self.method, self.uri, self.headers, self.status, self.code, self.audited) =
            (name, caller, method, uri, headers, status, code, audited)
        if let text { self.body = { _ in Array(text.utf8) } } else { self.body = body }
    }

    var testDescription: String { name }
}

enum BadInputRows {
    static let hex64 = String(repeating: "ab", count: 32)
    static let octet = [("Content-Type", "application/octet-stream")]
    static let json = [("Content-Type", "application/json")]
    static let fhirJSON = [("Content-Type", "application/fhir+json")]
    static let formType = [("Content-Type", "application/x-www-form-urlencoded")]
    static func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }

    /// A form with a client assertion.
    static func tokenForm(_ assertion: String, scope: String? = nil) -> [UInt8] {
        var text = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        text += "&client_assertion=\(assertion)"
        if let scope { text += "&scope=\(scope.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
        return Array(text.utf8)
    }

    /// Signed transaction bytes: `sender` signs (with `keys`) `call` at its next sequence unless told otherwise.
    static func tx(_ keys: @escaping @Sendable (BadInputWorld) -> IdentityKeys, sender: (@Sendable (BadInputWorld) -> IdentityID)? = nil,
                   chainId: String = FHIRFixture.chainId, sequence: UInt64? = nil, expiryHeight: UInt64? = nil,
                   _ call: @escaping @Sendable (BadInputWorld) -> any ContractMethod) -> @Sendable (BadInputWorld) async throws -> [UInt8] {
        { world in
            let signer = keys(world)
            let from = sender?(world) ?? signer.derivedID
            let next = sequence ?? BlockExecutor.lastSequence(of: from, in: world.node.state) + 1
            return Transaction.sign(TransactionBody(chainId: chainId, sender: from, publicKey: signer.signingPublicKey, sequence: next,
                                                    call: call(world), expiryHeight: expiryHeight), with: signer).bytes
        }
    }

    /// `POST /v1/endorse`'s body: a telehealth session opened by `keys`, as an endorsed call to the hospital.
    static func endorseRequest(_ keys: @escaping @Sendable (BadInputWorld) -> IdentityKeys) -> @Sendable (BadInputWorld) async throws -> [UInt8] {
        { world in
            let signer = keys(world)
            let open = TelehealthContract.Open(session: Hash256.sha256(Array(UUID().uuidString.utf8)), patient: Hash256.sha256([2]),
                                               consentToRecord: false, keyCommitment: Hash256.sha256([1]), startMs: 0)
            let call = UnsignedCall(signer, endorsedCall: open, for: [world.fixture.hospital.derivedID])
            let draft = Transaction.sign(TransactionBody(chainId: FHIRFixture.chainId, sender: signer.derivedID, publicKey: signer.signingPublicKey,
                                                         sequence: 1, contract: call.contract, method: call.method, args: call.args), with: signer)
            let body = ["transaction": Data(draft.bytes).base64EncodedString(), "private": Data(call.payload!.encoded).base64EncodedString()]
            return Array(try JSONSerialization.data(withJSONObject: body))
        }
    }

    static func anchor(_ world: BadInputWorld) -> any ContractMethod {
        AnchorContract.Put(digest: Hash256.sha256(Array("bad-input-\(UUID().uuidString)".utf8)), kind: "document")
    }

    static let v1: [BadInputRow] = [
        // The token endpoint.
        BadInputRow("token: JSON instead of a form", .nobody, .post, "/auth/token", headers: json, text: "{}", 415, "invalid_request"),
        BadInputRow("token: replayed assertion", .nobody, .post, "/auth/token", headers: formType,
                    body: { tokenForm($0.usedAssertion) }, 400, "invalid_client"),
        BadInputRow("token: expired assertion", .nobody, .post, "/auth/token", headers: formType, body: { world in
            tokenForm(try await TokenAuthority.makeAssertion(for: world.nurse, tokenURL: ServerFixture.tokenURL, now: Date().addingTimeInterval(-600)))
        }, 400, "invalid_client"),
        BadInputRow("token: assertion by an unknown key", .nobody, .post, "/auth/token", headers: formType, body: { world in
            tokenForm(try await TokenAuthority.makeAssertion(for: world.stranger, tokenURL: ServerFixture.tokenURL))
        }, 400, "invalid_client"),
        BadInputRow("token: assertion naming the doctor, signed by the nurse's key", .nobody, .post, "/auth/token", headers: formType, body: { world in
            let id = world.fixture.doctor.derivedID.hex
            return tokenForm(jwt(["iss": id, "sub": id, "aud": ServerFixture.tokenURL, "exp": Int(Date().timeIntervalSince1970) + 120,
                                  "jti": UUID().uuidString], signer: world.nurse))
        }, 400, "invalid_client"),
        BadInputRow("token: assertion for another node's token endpoint", .nobody, .post, "/auth/token", headers: formType, body: { world in
            tokenForm(try await TokenAuthority.makeAssertion(for: world.nurse, tokenURL: "https://other-chain.example/auth/token"))
        }, 400, "invalid_client"),
        BadInputRow("token: iss and sub differ", .nobody, .post, "/auth/token", headers: formType, body: { world in
            tokenForm(jwt(["iss": world.nurse.derivedID.hex, "sub": world.fixture.doctor.derivedID.hex, "aud": ServerFixture.tokenURL,
                           "exp": Int(Date().timeIntervalSince1970) + 120, "jti": UUID().uuidString], signer: world.nurse))
        }, 400, "invalid_client"),
        BadInputRow("token: assertion without alg EdDSA (alg none)", .nobody, .post, "/auth/token", headers: formType, body: { world in
            let id = world.nurse.derivedID.hex
            let claims = "{\"iss\":\"\(id)\",\"sub\":\"\(id)\",\"aud\":\"\(ServerFixture.tokenURL)\",\"exp\":\(Int(Date().timeIntervalSince1970) + 120),\"jti\":\"x\"}"
            return tokenForm(base64url(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + base64url(Array(claims.utf8)) + ".")
        }, 400, "invalid_client"),
        BadInputRow("token: a scope that is not a SMART scope", .nobody, .post, "/auth/token", headers: formType, body: { world in
            tokenForm(try await TokenAuthority.makeAssertion(for: world.nurse, tokenURL: ServerFixture.tokenURL), scope: "system/../../*.*")
        }, 400, "invalid_scope"),
        BadInputRow("token: body over 16 KiB", .nobody, .post, "/auth/token", headers: formType,
                    text: "grant_type=client_credentials&pad=" + String(repeating: "x", count: 20 << 10), 413, "too_large"),
        BadInputRow("token: invalid UTF-8 as the assertion", .nobody, .post, "/auth/token", headers: formType,
                    body: { _ in tokenForm("") + [0xff, 0xfe, 0xc0, 0x80] }, 400, "invalid_client"),
        BadInputRow("token: invalid UTF-8 as the grant type", .nobody, .post, "/auth/token", headers: formType,
                    body: { _ in Array("grant_type=".utf8) + [0xff, 0xfe] + Array("&client_assertion=x".utf8) }, 400, "unsupported_grant_type"),

        // Bearer tokens.
        BadInputRow("bearer: none", .nobody, .get, "/v1/identities/me", 401, "invalid_request"),
        BadInputRow("bearer: Basic scheme", .nobody, .get, "/v1/identities/me", headers: [("Authorization", "Basic ZG9jOmRvYw==")], 401, "invalid_request"),
        BadInputRow("bearer: alg none token", .nobody, .get, "/v1/identities/me", headers: [("Authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")],
                    401, "invalid_token"),
        BadInputRow("bearer: token for an identity not on the ledger", .stranger, .get, "/v1/identities/me", 401, "invalid_token"),
        BadInputRow("bearer: expired token", .expired, .get, "/v1/identities/me", 401, "invalid_token"),
        BadInputRow("bearer: token signed by another node", .otherNode, .get, "/v1/identities/me", 401, "invalid_token"),
        BadInputRow("bearer: token for another chain", .otherChain, .get, "/v1/identities/me", 401, "invalid_token"),
        BadInputRow("bearer: a Patient-read scope may not submit", .narrowScope, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.fixture.doctor }, anchor), 403, "insufficient_scope"),

        // Malformed transactions.
        BadInputRow("txs: three garbage bytes", .doctor, .post, "/v1/txs", headers: octet, body: { _ in [1, 2, 3] }, 400, "malformed"),
        BadInputRow("txs: a signed transaction cut short", .doctor, .post, "/v1/txs", headers: octet, body: { world in
            Array(try await tx({ $0.fixture.doctor }, anchor)(world).dropLast())
        }, 400, "malformed"),
        BadInputRow("txs: a signed transaction with a trailing byte", .doctor, .post, "/v1/txs", headers: octet, body: { world in
            try await tx({ $0.fixture.doctor }, anchor)(world) + [0]
        }, 400, "malformed"),
        BadInputRow("txs: a flipped signature bit", .doctor, .post, "/v1/txs", headers: octet, body: { world in
            var bytes = try await tx({ $0.fixture.doctor }, anchor)(world)
            bytes[bytes.count - 1] ^= 1
            return bytes
        }, 400, "badSignature"),
        BadInputRow("txs: arguments nested 40 deep", .doctor, .post, "/v1/txs", headers: octet, body: { world in
            var value = CanonicalValue.int(1)
            for _ in 0..<40 { value = .list([value]) }
            let doctor = world.fixture.doctor
            return Transaction.sign(TransactionBody(chainId: FHIRFixture.chainId, sender: doctor.derivedID, publicKey: doctor.signingPublicKey,
                                                    sequence: BlockExecutor.lastSequence(of: doctor.derivedID, in: world.node.state) + 1,
                                                    contract: "anchor", method: "put", args: .map(["deep": value])), with: doctor).bytes
        }, 400, "malformed"),
        BadInputRow("txs: a 65-byte method name", .doctor, .post, "/v1/txs", headers: octet, body: { world in
            let doctor = world.fixture.doctor
            return Transaction.sign(TransactionBody(chainId: FHIRFixture.chainId, sender: doctor.derivedID, publicKey: doctor.signingPublicKey,
                                                    sequence: 1, contract: "anchor", method: String(repeating: "m", count: 65), args: .map([:])),
                                    with: doctor).bytes
        }, 400, "malformed"),
        BadInputRow("txs: invalid UTF-8 in the chain id", .doctor, .post, "/v1/txs", headers: octet, body: { world in
            var bytes = try await tx({ $0.fixture.doctor }, anchor)(world)
            let chain = Array(FHIRFixture.chainId.utf8)
            let at = try #require((0...(bytes.count - chain.count)).first { Array(bytes[$0..<($0 + chain.count)]) == chain })
            bytes[at] = 0xff
            return bytes
        }, 400, "malformed"),
        BadInputRow("txs: over 64 KiB of bytes", .doctor, .post, "/v1/txs", headers: octet,
                    body: { _ in [UInt8](repeating: 7, count: Limits.transactionBytesMax + 10) }, 400, "tooLarge"),
        BadInputRow("txs: body past the route's limit", .doctor, .post, "/v1/txs", headers: octet,
                    body: { _ in [UInt8](repeating: 7, count: Limits.transactionBytesMax * 2 + 4_096) }, 413, "too_large"),
        BadInputRow("txs: JSON that is not JSON", .doctor, .post, "/v1/txs", headers: json, text: "{\"transaction\":", 400, "bad_request"),
        BadInputRow("txs: JSON transaction is a number", .doctor, .post, "/v1/txs", headers: json, text: "{\"transaction\": 1e999}", 400, "bad_request"),
        BadInputRow("txs: JSON transaction is not base64", .doctor, .post, "/v1/txs", headers: json, text: "{\"transaction\":\"%%%\"}", 400, "bad_request"),
        BadInputRow("txs: JSON nested 50,000 deep", .doctor, .post, "/v1/txs", headers: json, text: nested(50_000), 400, "bad_request"),
        BadInputRow("txs: invalid UTF-8 in JSON", .doctor, .post, "/v1/txs", headers: json,
                    body: { _ in Array("{\"transaction\":\"".utf8) + [0xff, 0xfe] + Array("\"}".utf8) }, 400, "bad_request"),
        BadInputRow("txs: text/plain", .doctor, .post, "/v1/txs", headers: [("Content-Type", "text/plain")], text: "x", 415, "unsupported_media_type"),
        BadInputRow("txs: no content type", .doctor, .post, "/v1/txs", body: { _ in [1] }, 415, "unsupported_media_type"),
        BadInputRow("txs: wait=yes", .doctor, .post, "/v1/txs?wait=yes", headers: octet, body: tx({ $0.fixture.doctor }, anchor), 400, "bad_request"),
        BadInputRow("txs: timeout_ms past Int64", .doctor, .post, "/v1/txs?wait=true&timeout_ms=99999999999999999999", headers: octet,
                    body: tx({ $0.fixture.doctor }, anchor), 400, "bad_request"),

        // Endorsement requests (a consortium node's): checked before the node says it is none.
        BadInputRow("endorse: JSON without a payload", .doctor, .post, "/v1/endorse", headers: json, text: "{\"transaction\":\"AA==\"}",
                    400, "bad_request"),
        BadInputRow("endorse: a transaction that does not decode", .doctor, .post, "/v1/endorse", headers: json, body: { _ in
            Array(#"{"transaction":"AQID","private":"AQID"}"#.utf8)
        }, 400, "bad_request"),
        BadInputRow("endorse: another identity's call", .doctor, .post, "/v1/endorse", headers: json,
                    body: endorseRequest({ $0.fixture.clinicDoctor }), 403, "forbidden"),
        BadInputRow("endorse: one's own call on a single node", .doctor, .post, "/v1/endorse", headers: json,
                    body: endorseRequest({ $0.fixture.doctor }), 409, "not_consortium"),

        // Foreign, replayed and expired transactions.
        BadInputRow("txs: signed for another chain", .doctor, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.fixture.doctor }, chainId: "other-chain", anchor), 422, "wrongChain"),
        BadInputRow("txs: a committed transaction replayed", .doctor, .post, "/v1/txs", headers: octet, body: { $0.committedBytes }, 422, "sequenceReplayed"),
        BadInputRow("txs: expired at height 1", .doctor, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.fixture.doctor }, expiryHeight: 1, anchor), 422, "expired"),
        BadInputRow("txs: sequence skips ahead", .doctor, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.fixture.doctor }, sequence: 1_000, anchor), 422, "sequenceGap"),
        BadInputRow("txs: signed by an unknown key", .doctor, .post, "/v1/txs", headers: octet, body: tx({ $0.stranger }, anchor), 422, "unknownSender"),
        BadInputRow("txs: the doctor's id with the nurse's key", .doctor, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.nurse }, sender: { $0.fixture.doctor.derivedID }, anchor), 422, "keyMismatch"),

        // Every role trying what it must not (the contracts decide, at admission).
        BadInputRow("role: a patient writes a record", .patient, .post, "/v1/txs", headers: octet, body: tx({ $0.patientKeys }) { world in
            RecordsContract.Register(record: Hash256.sha256(Array("forged".utf8)), patient: world.patient, resourceType: "Observation",
                                     category: .general, ciphertextHash: Hash256.sha256(Array("c".utf8)), version: 1)
        }, 422, "unauthorized"),
        BadInputRow("role: a clinician enrolls staff", .doctor, .post, "/v1/txs", headers: octet, body: tx({ $0.fixture.doctor }) { world in
            MembershipContract.Enroll(label: "ghost", roles: [.clinician], signingKey: world.stranger.signingPublicKey,
                                      agreementKey: world.stranger.agreementPublicKey)
        }, 422, "unauthorized"),
        BadInputRow("role: a nurse erases a record", .nurse, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.nurse }) { RecordsContract.Erase(record: $0.record) }, 422, "unauthorized"),
        BadInputRow("role: a pharmacist adjudicates (pays) a claim", .pharmacist, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.pharmacist }) { ClaimsContract.Pay(claim: $0.claim, amount: 100, reference: Hash256.sha256([1])) },
                    422, "notPlanPayer"),
        BadInputRow("role: an auditor grants consent for a patient", .auditor, .post, "/v1/txs", headers: octet, body: tx({ $0.auditor }) { world in
            ConsentContract.Grant(patient: world.patient, grantee: .member(world.auditor.derivedID), purposes: [.treatment], actions: [.read])
        }, 422, "notPatientOrDelegate"),
        BadInputRow("role: a pharmacist enrolls the patient in a plan", .pharmacist, .post, "/v1/txs", headers: octet, body: tx({ $0.pharmacist }) { world in
            CoverageEnrollment(plan: "GOLD", patient: world.patient, startMs: 0, endMs: 86_400_000).call
        }, 422, "notPlanPayer"),
        BadInputRow("role: a nurse revokes a colleague", .nurse, .post, "/v1/txs", headers: octet,
                    body: tx({ $0.nurse }) { MembershipContract.Revoke(member: $0.fixture.doctor.derivedID) }, 422, "unauthorized"),
        BadInputRow("role: a payer agent registers a record", .payerAgent, .post, "/v1/txs", headers: octet, body: tx({ $0.payerAgent }) { world in
            RecordsContract.Register(record: Hash256.sha256(Array("payer-forged".utf8)), patient: world.patient, resourceType: "Claim",
                                     category: .general, ciphertextHash: Hash256.sha256(Array("c".utf8)), version: 1)
        }, 422, "unauthorized"),

        // Reads out of role: a denied release is decided and logged; the other reads are refused before any decision.
        BadInputRow("role: a payer agent reads a record", .payerAgent, .get, "/v1/records/{record}/release", 404, "not_found", audited: 1),
        BadInputRow("role: a payer agent describes a record", .payerAgent, .get, "/v1/records/{record}", 404, "not_found", audited: 1),
        BadInputRow("role: a payer agent lists the patient's records", .payerAgent, .get, "/v1/patients/{patient}/records", 403, "forbidden"),
        BadInputRow("role: an auditor lists the patient's consents", .auditor, .get, "/v1/patients/{patient}/consents", 403, "forbidden"),
        BadInputRow("role: a nurse reads the access log", .nurse, .get, "/v1/patients/{patient}/access-log", 403, "forbidden"),
        BadInputRow("role: a clinician asks for anomaly alerts", .doctor, .get, "/v1/audit/anomalies", 403, "forbidden"),
        BadInputRow("role: another organization's clinician reads the claim", .clinicDoctor, .get, "/v1/claims/{claim}", 403, "forbidden",
                    audited: 1),
        BadInputRow("role: a pharmacist lists the patient's consents", .pharmacist, .get, "/v1/patients/{patient}/consents", 403, "forbidden"),

        // Path tricks and bad parameters.
        BadInputRow("path: release of %2e%2e", .doctor, .get, "/v1/records/%2e%2e/release", 400, "bad_request"),
        BadInputRow("path: release of ..%2F..%2Fetc%2Fpasswd", .doctor, .get, "/v1/records/..%2F..%2Fetc%2Fpasswd/release", 400, "bad_request"),
        BadInputRow("path: record id with a NUL", .doctor, .get, "/v1/records/\(hex64.dropLast(2))%00a", 400, "bad_request"),
        BadInputRow("path: an overlong record id", .doctor, .get, "/v1/records/\(String(repeating: "a", count: 8_192))", 400, "bad_request"),
        BadInputRow("path: identity ..", .doctor, .get, "/v1/identities/..", 400, "bad_request"),
        BadInputRow("path: block height -1", .doctor, .get, "/v1/blocks/-1", 400, "bad_request"),
        BadInputRow("path: claim id %2F-encoded", .doctor, .get, "/v1/claims/..%2Fplans%2FGOLD", 400, "bad_request"),
        BadInputRow("query: release purpose BOGUS", .doctor, .get, "/v1/records/{record}/release?purpose=BOGUS", 400, "bad_request"),
        BadInputRow("query: limit past UInt64", .doctor, .get, "/v1/patients/{patient}/records?limit=99999999999999999999999", 400, "bad_request"),
        BadInputRow("query: txs limit 0", .doctor, .get, "/v1/txs?limit=0", 400, "bad_request"),
        BadInputRow("query: proof hash of invalid UTF-8", .doctor, .get, "/v1/log/proof-by-hash?hash=%FF%FE&tree_size=1", 400, "bad_request"),
        BadInputRow("relay: a message to a session that does not exist", .doctor, .post, "/v1/telehealth/sessions/\(hex64)/messages",
                    headers: json, text: "{\"sequence\": 0, \"sealed\": \"AA==\"}", 404, "not_found"),
    ]

    static let fhir: [BadInputRow] = [
        BadInputRow("fhir: no token", .nobody, .get, "/fhir/Observation/{obs}", 401, "login"),
        BadInputRow("fhir: malformed JSON", .doctor, .post, "/fhir/Observation", headers: fhirJSON, text: "{\"resourceType\":", 400, "invalid"),
        BadInputRow("fhir: invalid UTF-8", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    body: { _ in Array(#"{"resourceType":"Observation","status":""#.utf8) + [0xff, 0xc0, 0xaf] + Array(#""}"#.utf8) }, 400, "invalid"),
        BadInputRow("fhir: nested 100,000 deep", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    text: "{\"resourceType\":\"Observation\",\"x\":" + nested(100_000) + "}", 400, "invalid"),
        BadInputRow("fhir: a number past Double", .doctor, .post, "/fhir/Observation", headers: fhirJSON, body: { world in
            Array(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/\#(world.patientFHIR)"},"valueQuantity":{"value":1e999}}"#.utf8)
        }, 400, "invalid"),
        BadInputRow("fhir: a 5 MiB resource", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    text: #"{"resourceType":"Observation","note":[{"text":""# + String(repeating: "x", count: 5 << 20) + #""}]}"#, 413, "too-costly"),
        BadInputRow("fhir: an array, not an object", .doctor, .post, "/fhir/Observation", headers: fhirJSON, text: "[]", 400, "invalid"),
        BadInputRow("fhir: a Patient posted to Observation", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    text: #"{"resourceType":"Patient"}"#, 400, "invalid"),
        BadInputRow("fhir: text/plain", .doctor, .post, "/fhir/Observation", headers: [("Content-Type", "text/plain")], text: "{}", 415, "not-supported"),
        BadInputRow("fhir: XML requested", .doctor, .get, "/fhir/Observation/{obs}", headers: [("Accept", "application/fhir+xml")], 406, "not-supported"),
        BadInputRow("fhir: _search with a JSON body", .doctor, .post, "/fhir/Observation/_search", headers: json, text: "{}", 415, "not-supported"),
        BadInputRow("fhir: Bundle of type collection", .doctor, .post, "/fhir", headers: fhirJSON,
                    text: #"{"resourceType":"Bundle","type":"collection","entry":[]}"#, 400, "invalid"),
        BadInputRow("fhir: transaction entry with a path trick", .doctor, .post, "/fhir", headers: fhirJSON,
                    text: #"{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"Observation/../../Patient"},"resource":{"resourceType":"Observation","id":"..","status":"final","code":{"text":"x"}}}]}"#,
                    400, "invalid"),

        BadInputRow("fhir path: id %2e%2e", .doctor, .get, "/fhir/Observation/%2e%2e", 400, "invalid"),
        BadInputRow("fhir path: id ..%2F..%2Fetc", .doctor, .get, "/fhir/Observation/..%2F..%2Fetc", 400, "invalid"),
        BadInputRow("fhir path: id with a NUL", .doctor, .get, "/fhir/Observation/abc%00def", 400, "invalid"),
        BadInputRow("fhir path: a 65-character id", .doctor, .get, "/fhir/Observation/\(String(repeating: "a", count: 65))", 400, "invalid"),
        BadInputRow("fhir path: an unknown type", .doctor, .get, "/fhir/Evil/1", 404, "not-found"),
        BadInputRow("fhir path: PUT to id .. (a dot segment)", .doctor, .put, "/fhir/Observation/..", headers: fhirJSON,
                    text: #"{"resourceType":"Observation","id":"..","status":"final","code":{"text":"x"}}"#, 400, "invalid"),
        BadInputRow("fhir path: export status of ../..", .doctor, .get, "/fhir/$export-status/..%2F..%2Fjob", 404, "not-found"),
        BadInputRow("fhir path: export file ../../etc/passwd", .doctor, .get, "/fhir/$export-file/%2e%2e/%2e%2e%2Fetc%2Fpasswd", 404, "not-found"),
        BadInputRow("fhir: vread version 0", .doctor, .get, "/fhir/Observation/{obs}/_history/0", 400, "invalid"),
        BadInputRow("fhir: vread version past UInt64", .doctor, .get, "/fhir/Observation/{obs}/_history/99999999999999999999999", 400, "invalid"),
        BadInputRow("fhir: If-Match not an ETag", .doctor, .put, "/fhir/Observation/{obs}", headers: fhirJSON + [("If-Match", "W/\"one\"")],
                    body: { world in Array(#"{"resourceType":"Observation","id":"\#(world.observationFHIR)","status":"final","code":{"text":"x"}}"#.utf8) },
                    400, "invalid"),
        BadInputRow("fhir: update whose body names another id", .doctor, .put, "/fhir/Observation/{obs}", headers: fhirJSON,
                    text: #"{"resourceType":"Observation","id":"other","status":"final","code":{"text":"x"}}"#, 400, "invalid"),
        BadInputRow("fhir: purpose of use BOGUS", .doctor, .get, "/fhir/Observation/{obs}", headers: [("X-Purpose-Of-Use", "BOGUS")], 400, "invalid"),
        BadInputRow("fhir: _count of a million", .doctor, .get, "/fhir/Observation?_count=1000000", 400, "invalid"),
        BadInputRow("fhir: unknown parameter under strict handling", .doctor, .get, "/fhir/Observation?evil=1",
                    headers: [("Prefer", "handling=strict")], 400, "invalid"),

        // Roles.
        BadInputRow("fhir role: a patient updates their record", .patient, .put, "/fhir/Observation/{obs}", headers: fhirJSON, body: { world in
            Array(#"{"resourceType":"Observation","id":"\#(world.observationFHIR)","status":"final","code":{"text":"self-written"},"subject":{"reference":"Patient/\#(world.patientFHIR)"}}"#.utf8)
        }, 403, "forbidden"),
        BadInputRow("fhir role: a payer agent creates a record", .payerAgent, .post, "/fhir/Observation", headers: fhirJSON, body: { world in
            Array(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/\#(world.patientFHIR)"}}"#.utf8)
        }, 403, "forbidden"),
        BadInputRow("fhir role: a payer agent reads a record", .payerAgent, .get, "/fhir/Observation/{obs}", 404, "not-found", audited: 1),
        BadInputRow("fhir role: a clinician deletes a record", .doctor, .delete, "/fhir/Observation/{obs}", 403, "forbidden"),
        BadInputRow("fhir role: a nurse deletes it in a transaction Bundle", .nurse, .post, "/fhir", headers: fhirJSON, body: { world in
            Array(#"{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Observation/\#(world.observationFHIR)"}}]}"#.utf8)
        }, 403, "forbidden"),
        BadInputRow("fhir role: a nurse deletes a record", .nurse, .delete, "/fhir/Observation/{obs}", 403, "forbidden"),
        BadInputRow("fhir role: an auditor deletes a record", .auditor, .delete, "/fhir/Observation/{obs}", 403, "forbidden"),
        BadInputRow("fhir role: an auditor submits a Consent for the patient", .auditor, .post, "/fhir/Consent", headers: fhirJSON, body: { world in
            Array(#"{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/\#(world.patientFHIR)"},"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Practitioner/\#(world.auditor.derivedID.hex)"}}]}}"#.utf8)
        }, 403, "forbidden"),
        // Issue 15: resources that do not conform to R4 are refused, every problem named (FHIRValidator).
        BadInputRow("fhir R4: an Observation without its required code", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    text: #"{"resourceType":"Observation","status":"final"}"#, 400, "required"),
        BadInputRow("fhir R4: an Observation whose status is an object", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    text: #"{"resourceType":"Observation","status":{"x":1},"code":{"text":"x"}}"#, 400, "structure"),
        BadInputRow("fhir R4: a status outside its value set and an element R4 lacks", .doctor, .post, "/fhir/Observation", headers: fhirJSON,
                    text: #"{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"fooBar":3}"#, 400, "structure"),
        BadInputRow("fhir R4: a Patient with gender martian and birthDate not-a-date", .doctor, .post, "/fhir/Patient", headers: fhirJSON,
                    text: #"{"resourceType":"Patient","gender":"martian","birthDate":"not-a-date"}"#, 400, "value"),
        BadInputRow("fhir R4: a transaction whose last entry's status is an object stores nothing", .doctor, .post, "/fhir", headers: fhirJSON, body: { world in
            Array("""
            {"resourceType":"Bundle","type":"transaction","entry":[
             {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/\(world.patientFHIR)"}},
              "request":{"method":"POST","url":"Observation"}},
             {"resource":{"resourceType":"ExplanationOfBenefit","status":{"code":"active"},"type":{"text":"professional"},"use":"claim",
              "patient":{"reference":"Patient/\(world.patientFHIR)"},"created":"2024-01-02T03:04:05Z","insurer":{"display":"Payer"},
              "provider":{"display":"Clinic"},"outcome":"complete","insurance":[{"focal":true,"coverage":{"display":"Plan"}}]},
              "request":{"method":"POST","url":"ExplanationOfBenefit"}}]}
            """.utf8)
        }, 400, "structure"),
        BadInputRow("fhir role: a payer agent submits a claim", .payerAgent, .post, "/fhir/Claim/$submit", headers: fhirJSON, body: { world in
            Array(FHIRJSON.data(FHIRClaimTests.claim("BAD-1", patient: world.patientFHIR, encounter: world.encounterFHIR)))
        }, 403, "forbidden"),
        BadInputRow("fhir role: a clinic doctor without consent reads", .clinicDoctor, .get, "/fhir/Observation/{obs}", 404, "not-found", audited: 1),
    ]
}

/// An unpadded base64url string.
func base64url(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// A compact EdDSA JWT of `claims` signed by `signer` (whatever the claims say).
func jwt(_ claims: [String: Any], signer: IdentityKeys) -> String {
    let header = base64url(Array(#"{"alg":"EdDSA","typ":"JWT"}"#.utf8))
    let payload = base64url(Array(try! JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])))
    let signed = header + "." + payload
    return signed + "." + base64url(signer.sign(Array(signed.utf8)))
}

/// What a refused row must leave as it was: the chain's head and the vault's contents.
struct WorldSnapshot: Equatable, CustomStringConvertible {
    let height: UInt64
    let logSize: UInt64
    let stateRoot: Hash256
    let audit: UInt64
    let pending: Int
    let patientRecords: [Hash256]
    let observationVersion: UInt64?
    let observationErased: Bool

    var description: String {
        "height \(height), log \(logSize), state \(stateRoot.hex.prefix(12)), audit \(audit), pending \(pending), records \(patientRecords.count), " +
            "observation v\(observationVersion.map(String.init) ?? "-")\(observationErased ? " erased" : "")"
    }
}

/// One node with every role of the table, built once for the suite.
final class BadInputWorld: Sendable {
    let fixture: FHIRFixture
    let client: any TestClientProtocol
    let nurse = IdentityKeys(seed: Array(repeating: 31, count: 32))
    let pharmacist = IdentityKeys(seed: Array(repeating: 32, count: 32))
    let auditor = IdentityKeys(seed: Array(repeating: 33, count: 32))
    let payerAgent = IdentityKeys(seed: Array(repeating: 34, count: 32))
    let stranger = IdentityKeys(seed: Array(repeating: 35, count: 32))
    let patientKeys: IdentityKeys
    let patient: IdentityID
    let patientFHIR: String
    let observationFHIR: String
    let encounterFHIR: String
    let record: Hash256
    let claim: Hash256
    let committedBytes: [UInt8]
    let usedAssertion: String
    let tokens: [Caller: String]

    var node: LedgerNode { fixture.node }
    var fhir: FHIRService { fixture.services.fhir! }

    @TaskLocal static var current: BadInputWorld?

    /// Builds the world around the suite and stops its node after.
    struct Scope: SuiteTrait, TestScoping {
        func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
            let fixture = try await FHIRFixture()
            do {
                try await fixture.application.test(.router) { client in
                    let world = try await BadInputWorld(fixture, client: client)
                    try await BadInputWorld.$current.withValue(world) { try await function() }
                }
            } catch {
                await fixture.node.stop()
                try? FileManager.default.removeItem(at: fixture.directory)
                throw error
            }
            await fixture.node.stop()
            try? FileManager.default.removeItem(at: fixture.directory)
        }
    }

    init(_ fixture: FHIRFixture, client: any TestClientProtocol) async throws {
        self.fixture = fixture
        self.client = client
        let fhir = try #require(fixture.services.fhir)
        let ledger = fhir.client
        let hospital = fixture.hospital
        for (member, role) in [(nurse, Role.nurse), (pharmacist, .pharmacist), (auditor, .auditor)] {
            try await ledger.commit([UnsignedCall(hospital, call: MembershipContract.Enroll(
                label: role.rawValue, roles: [role], signingKey: member.signingPublicKey, agreementKey: member.agreementPublicKey))])
        }
        let doctor = FHIRClient(client: client, bearer: try await fixture.services.tokens.mint(for: fixture.doctor.derivedID).token)
        patientFHIR = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
        patient = try #require(fixture.ledgerPatient(patientFHIR))
        patientKeys = try #require(fixture.patientKeys.keys(of: patient))
        let observation = try await doctor.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientFHIR, code: "4548-4", date: "2024-05-01"))
        observationFHIR = try #require(observation.json["id"] as? String, "\(observation.json)")
        record = fixture.recordID(type: "Observation", id: observationFHIR)

        try await FHIRClaimTests.setUpPayer(fixture, patient: patient)
        let enrollAgent = Transaction.sign(TransactionBody(
            chainId: FHIRFixture.chainId, sender: FHIRClaimTests.payer.derivedID, publicKey: FHIRClaimTests.payer.signingPublicKey,
            sequence: BlockExecutor.lastSequence(of: FHIRClaimTests.payer.derivedID, in: fixture.node.state) + 1,
            call: MembershipContract.Enroll(label: "agent", roles: [.payerAgent], signingKey: payerAgent.signingPublicKey,
                                            agreementKey: payerAgent.agreementPublicKey)), with: FHIRClaimTests.payer)
        try await ledger.commit(enrollAgent)
        committedBytes = enrollAgent.bytes
        let encounter = try await doctor.call(.post, "/fhir/Encounter", [
            "resourceType": "Encounter", "status": "finished", "subject": ["reference": "Patient/\(patientFHIR)"],
            "class": ["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"]])
        encounterFHIR = try #require(encounter.json["id"] as? String, "\(encounter.json)")
        let paid = try await doctor.call(.post, "/fhir/Claim/$submit", FHIRClaimTests.claim("T-1", patient: patientFHIR, encounter: encounterFHIR))
        #expect(paid.status == .ok, "\(paid.json)")
        let claims = ClaimsContract.providerClaimsPrefix(hospital.derivedID)
        let claimKey = try #require(try fixture.node.visibleStates(prefix: claims, after: nil, limit: 1).first?.key)
        claim = try #require(Hash256(hex: String(claimKey.dropFirst(claims.count))))

        let assertion = try await TokenAuthority.makeAssertion(for: nurse, tokenURL: ServerFixture.tokenURL)
        _ = try await fixture.services.tokens.verifyAssertion(assertion, state: fixture.node.state)
        usedAssertion = assertion

        let tokens = fixture.services.tokens
        var minted: [Caller: String] = [:]
        for (caller, id) in [(Caller.doctor, fixture.doctor.derivedID), (.nurse, nurse.derivedID), (.pharmacist, pharmacist.derivedID),
                             (.auditor, auditor.derivedID), (.payerAgent, payerAgent.derivedID), (.patient, patient),
                             (.clinicDoctor, fixture.clinicDoctor.derivedID), (.hospital, hospital.derivedID), (.stranger, stranger.derivedID)] {
            minted[caller] = try await tokens.mint(for: id).token
        }
        let past = await TokenAuthority(nodeKeys: fixture.nodeKeys, chainId: FHIRFixture.chainId, publicURL: ServerFixture.publicURL,
                                        usedAssertions: InMemoryUsedAssertions(), now: { Date().addingTimeInterval(-3_600) })
        minted[.expired] = try await past.mint(for: fixture.doctor.derivedID).token
        minted[.otherNode] = try await TokenAuthority(mintingFor: IdentityKeys(seed: Array(repeating: 36, count: 32)), chainId: FHIRFixture.chainId)
            .mint(for: fixture.doctor.derivedID).token
        minted[.otherChain] = try await TokenAuthority(mintingFor: fixture.nodeKeys, chainId: "other-chain").mint(for: fixture.doctor.derivedID).token
        minted[.narrowScope] = try await tokens.mint(for: fixture.doctor.derivedID, scope: "system/Patient.read").token
        self.tokens = minted
    }

    func snapshot() async throws -> WorldSnapshot {
        let head = await node.headHeader
        let vault = fhir.access.vault
        let entry = RecordIndex.current(record, in: node.state)
        return WorldSnapshot(height: head.height, logSize: head.logSize, stateRoot: head.stateRoot, audit: try vault.auditHead().size,
                             pending: try vault.pendingVersions(limit: 1_000).count,
                             patientRecords: try vault.records(patient: patient, limit: 1_000).sorted { $0.hex < $1.hex },
                             observationVersion: entry?.version, observationErased: entry?.isErased ?? false)
    }

    func fill(_ uri: String) -> String {
        uri.replacingOccurrences(of: "{record}", with: record.hex).replacingOccurrences(of: "{obs}", with: observationFHIR)
            .replacingOccurrences(of: "{patient}", with: patient.hex).replacingOccurrences(of: "{pat}", with: patientFHIR)
            .replacingOccurrences(of: "{claim}", with: claim.hex)
    }

    /// Sends the row's request; checks its status and code, then that only the expected audit entries were added.
    static func run(_ row: BadInputRow) async throws {
        let world = try #require(current, "the suite's scope builds the world")
        let before = try await world.snapshot()
        var headers = HTTPFields()
        for (name, value) in row.headers { headers[HTTPField.Name(name)!] = value }
        if let token = world.tokens[row.caller] { headers[.authorization] = "Bearer \(token)" }
        let body = try await row.body?(world)
        let (status, payload) = try await world.client.execute(uri: world.fill(row.uri), method: row.method, headers: headers,
                                                               body: body.map { ByteBuffer(bytes: $0) }) { ($0.status, $0.body) }
        let json = object(payload)
        #expect(Int(status.code) == row.status, "\(row.name): \(status) \(String(buffer: payload).prefix(400))")
        let code = row.uri.hasPrefix("/fhir") ? issueCode(json) : json["error"] as? String
        #expect(code == row.code, "\(row.name): \(String(buffer: payload).prefix(400))")
        if !row.uri.hasPrefix("/fhir") { #expect(json["message"] is String, "\(row.name): a message says why") }
        // Give a wrongly admitted transaction time to commit, so that the check below sees it.
        if (200..<300).contains(Int(status.code)) { try await Task.sleep(for: .milliseconds(100)) }
        let after = try await world.snapshot()
        let expected = WorldSnapshot(height: before.height, logSize: before.logSize, stateRoot: before.stateRoot, audit: before.audit + row.audited,
                                     pending: before.pending, patientRecords: before.patientRecords,
                                     observationVersion: before.observationVersion, observationErased: before.observationErased)
        #expect(after == expected, "\(row.name): changed from \(before) to \(after)")
    }
}
