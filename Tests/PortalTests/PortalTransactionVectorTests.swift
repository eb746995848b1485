import Contracts
import Crypto
import Foundation
import LedgerCore
import Testing

/// The browser's transaction signer (`Sources/Portal/Assets/canonical.js`) and LedgerCore check the
/// same file, `Sources/Portal/Assets/tx-vectors.json`: the patient pages run every case in the
/// browser before they sign anything (`PortalBrowserTests` requires it to pass), and these tests
/// check that every case is what LedgerCore's canonical encoder, the contracts' typed calls and
/// `Transaction.sign` produce, so the two cannot drift. `CARELEDGER_WRITE_PORTAL_VECTORS=1` writes it anew.
@Suite("Portal transaction vectors: one file for the browser's signer and LedgerCore")
struct PortalTransactionVectorTests {
    static let file = PortalVectorTests.packageRoot.appendingPathComponent("Sources/Portal/Assets/tx-vectors.json")

    /// A canonical value as the file writes it: ["int", "-1"], ["bytes", "00ff"], ["map", [[key, value]…]]…
    static func tagged(_ value: CanonicalValue) -> [Any] {
        switch value {
        case .null: ["null"]
        case .bool(let b): ["bool", b]
        case .int(let i): ["int", String(i)]
        case .bytes(let b): ["bytes", Hex.encode(b)]
        case .string(let s): ["string", s]
        case .list(let items): ["list", items.map(tagged)]
        case .map(let map): ["map", map.entries.map { [$0.key, tagged($0.value)] as [Any] }]
        }
    }

    static func string(_ any: Any?) throws -> String { try #require(any as? String) }
    static func hex(_ any: Any?) throws -> [UInt8] {
        let text = try string(any)
        return try #require(Hex.decode(text))
    }

    static func untagged(_ any: Any?) throws -> CanonicalValue {
        let tree = try #require(any as? [Any])
        let tag = try #require(tree.first as? String)
        switch tag {
        case "null": return .null
        case "bool": return .bool(try #require(tree[1] as? Bool))
        case "int": return .int(try #require(Int64(try string(tree[1]))))
        case "bytes": return .bytes(try hex(tree[1]))
        case "string": return .string(try #require(tree[1] as? String))
        case "list":
            let items = try #require(tree[1] as? [Any])
            return .list(try items.map(untagged))
        case "map":
            let entries = try #require(tree[1] as? [[Any]])
            return .map(CanonicalMap(try entries.map { (try #require($0[0] as? String), try untagged($0[1])) }))
        default: throw CanonicalError.unexpected(offset: 0, expected: "a known tag, not \(tag)")
        }
    }

    static let patient = IdentityKeys(seed: Array(repeating: 7, count: 32))
    static let clinic = Hash256.sha256(Array("riverside clinic".utf8))

    /// The values: every tag, varint boundaries, both signs, multi-byte UTF-8, and map keys that
    /// sort differently by UTF-8 bytes than by UTF-16 or Unicode order.
    static let values: [(String, CanonicalValue)] = [
        ("null", .null), ("true", .bool(true)), ("false", .bool(false)),
        ("int 0", .int(0)), ("int -1", .int(-1)), ("int 63", .int(63)), ("int 64", .int(64)), ("int -65", .int(-65)),
        ("int 300", .int(300)), ("int 2^53+1", .int(9_007_199_254_740_993)), ("int max", .int(.max)), ("int min", .int(.min)),
        ("bytes empty", .bytes([])), ("bytes 00ff", .bytes([0, 255])), ("bytes 200", .bytes(Array(repeating: 9, count: 200))),
        ("string empty", .string("")), ("string accents", .string("é ü")), ("string emoji", .string("😀 ok")),
        ("list", .list([.int(1), .string("a"), .null, .list([])])),
        ("map key order", .map(CanonicalMap([("b", .int(1)), ("a", .int(2)), ("aa", .int(3)), ("Z", .int(4)), ("é", .int(5)),
                                             ("\u{FF61}", .int(6)), ("😀", .int(7))]))),
        ("map nested", .map(["grantee": .map(["kind": .string("role"), "role": .string("clinician")]), "empty": .map([:])])),
    ]

    /// The patient's and staff's calls: the builder's input (as the browser's forms make it) and the typed call it must equal.
    static var calls: [(name: String, builder: String, input: [String: Any], call: any ContractMethod)] { [
        ("registerPatient", "registerPatient", ["agreementKey": Hex.encode(patient.agreementPublicKey)],
         MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)),
        ("rotateKey", "rotateKey", ["signingKey": Hex.encode(patient.signingPublicKey.rawValue), "agreementKey": Hex.encode(patient.agreementPublicKey)],
         MembershipContract.RotateKey(signingKey: patient.signingPublicKey, agreementKey: patient.agreementPublicKey)),
        ("grant an organization, general records, until a date", "consentGrant",
         ["patient": patient.derivedID.hex, "grantee": ["kind": "organization", "id": clinic.hex], "categories": ["general"],
          "purposes": ["TREAT"], "actions": ["read"], "endMs": 1_900_000_000_000],
         ConsentContract.Grant(patient: patient.derivedID, grantee: .organization(clinic), categories: [.general], purposes: [.treatment],
                               actions: [.read], endMs: 1_900_000_000_000)),
        ("grant a role, sensitive categories named, no end", "consentGrant",
         ["patient": patient.derivedID.hex, "grantee": ["kind": "role", "role": "clinician"], "categories": ["general", "mental-health", "hiv"],
          "purposes": ["TREAT", "ETREAT"], "actions": ["read", "contribute"]],
         ConsentContract.Grant(patient: patient.derivedID, grantee: .role(.clinician), categories: [.general, .mentalHealth, .hiv],
                               purposes: [.treatment, .emergencyTreatment], actions: [.read, .contribute])),
        ("grant a person, from a start", "consentGrant",
         ["patient": patient.derivedID.hex, "grantee": ["kind": "member", "id": clinic.hex], "categories": [] as [String],
          "purposes": ["HRESCH"], "actions": ["read"], "startMs": 1_800_000_000_000],
         ConsentContract.Grant(patient: patient.derivedID, grantee: .member(clinic), purposes: [.research], actions: [.read], startMs: 1_800_000_000_000)),
        ("revoke", "consentRevoke", ["patient": patient.derivedID.hex, "consent": clinic.hex],
         ConsentContract.Revoke(patient: patient.derivedID, consent: clinic)),
        ("withdraw from a trial", "trialWithdraw", ["trial": "NCT-04-cardio-2026", "patient": patient.derivedID.hex],
         TrialsContract.Withdraw(trial: "NCT-04-cardio-2026", patient: patient.derivedID)),
        // Staff calls (the payer's and the pharmacist's pages).
        ("approve a prior authorization, some units, until a day", "decideAuthorization",
         ["authorization": clinic.hex, "approve": true, "quantity": 1, "validUntilMs": 1_900_000_000_000],
         ClaimsContract.DecideAuthorization(authorization: clinic, approve: true, quantity: 1, validUntilMs: 1_900_000_000_000)),
        ("approve a prior authorization, all units", "decideAuthorization",
         ["authorization": clinic.hex, "approve": true, "validUntilMs": 1_900_000_000_000],
         ClaimsContract.DecideAuthorization(authorization: clinic, approve: true, validUntilMs: 1_900_000_000_000)),
        ("deny a prior authorization", "decideAuthorization", ["authorization": clinic.hex, "approve": false, "reason": "not medically necessary é"],
         ClaimsContract.DecideAuthorization(authorization: clinic, approve: false, reason: "not medically necessary é")),
        ("fill a prescription with two packs", "fill",
         ["prescription": clinic.hex, "units": [["gtin": "00614141000036", "serial": "S1"], ["gtin": "00614141000036", "serial": "A-2.b_3"]]],
         PrescriptionContract.Fill(prescription: clinic, units: [SGTIN(gtin: "00614141000036", serial: "S1"),
                                                                 SGTIN(gtin: "00614141000036", serial: "A-2.b_3")])),
        ("report a pack with its printed lot and expiry", "supplyVerify",
         ["gtin": "00614141000036", "serial": "FAKE-0042", "lot": "L7", "expiryMs": 1_900_000_000_000],
         SupplyChainContract.Verify(gtin: "00614141000036", serial: "FAKE-0042", lot: "L7", expiryMs: 1_900_000_000_000)),
        ("report a pack by GTIN and serial only", "supplyVerify", ["gtin": "00614141000036", "serial": "S1"],
         SupplyChainContract.Verify(gtin: "00614141000036", serial: "S1")),
    ] }

    /// Whole transactions: the body's fields, the signing seed, and what must come out.
    static var transactions: [(name: String, body: TransactionBody)] { [
        ("registerPatient, sequence 1", TransactionBody(chainId: "portal-test", sender: patient.derivedID, publicKey: patient.signingPublicKey,
                                                        sequence: 1, call: calls[0].call as! MembershipContract.RegisterPatient)),
        ("consent.grant with an expiry height", TransactionBody(chainId: "care ledger é", sender: patient.derivedID, publicKey: patient.signingPublicKey,
                                                                sequence: 300, call: calls[2].call as! ConsentContract.Grant, expiryHeight: 70_000)),
        ("rotateKey, another sender", TransactionBody(chainId: "c", sender: clinic, publicKey: patient.signingPublicKey, sequence: 9_007_199_254_740_993,
                                                      call: calls[1].call as! MembershipContract.RotateKey)),
    ] }

    static func document() -> [String: Any] {
        [
            "about": "Written by PortalTransactionVectorTests (CARELEDGER_WRITE_PORTAL_VECTORS=1) from LedgerCore's canonical encoder, the contracts' typed calls and Transaction.sign; checked by canonical.js in the browser before it signs, and by the Swift tests. Values are tagged trees; hex everywhere.",
            "values": values.map { ["name": $0.0, "value": tagged($0.1), "encoded": Hex.encode($0.1.encoded)] as [String: Any] },
            "calls": calls.map { ["name": $0.name, "builder": $0.builder, "input": $0.input, "contract": type(of: $0.call).contract,
                                  "method": type(of: $0.call).methodName, "encoded": Hex.encode($0.call.args.encoded)] as [String: Any] },
            "transactions": transactions.map { t -> [String: Any] in
                let signed = Transaction.sign(t.body, with: patient)
                return ["name": t.name, "seed": Hex.encode(Array(patient.signing.rawRepresentation)), "chain_id": t.body.chainId,
                        "sender": t.body.sender.hex, "public_key": Hex.encode(t.body.publicKey.rawValue), "sequence": String(t.body.sequence),
                        "contract": t.body.contract, "method": t.body.method, "args": tagged(t.body.args),
                        "expiry_height": t.body.expiryHeight.map { String($0) as Any } ?? NSNull(),
                        "body": Hex.encode(signed.bytes[0..<signed.bodyLength]), "bytes": Hex.encode(signed.bytes), "id": signed.id.hex]
            },
        ]
    }

    @Test func theFileIsWhatLedgerCoreAndTheContractsProduce() throws {
        let expected = try JSONSerialization.data(withJSONObject: Self.document(), options: [.sortedKeys, .withoutEscapingSlashes])
        if ProcessInfo.processInfo.environment["CARELEDGER_WRITE_PORTAL_VECTORS"] == "1" { try expected.write(to: Self.file) }
        let file = try PortalVectorTests.load(Self.file)
        let written = try JSONSerialization.data(withJSONObject: file, options: [.sortedKeys, .withoutEscapingSlashes])
        #expect(written == expected, "tx-vectors.json is stale: run with CARELEDGER_WRITE_PORTAL_VECTORS=1 and commit it")
    }

    @Test func everyCaseDecodesAndSignsAsLedgerCoreSays() throws {
        let file = try PortalVectorTests.load(Self.file)
        for c in PortalVectorTests.cases(file, "values") {
            let value = try Self.untagged(c["value"])
            let encoded = try Self.hex(c["encoded"])
            #expect(value.encoded == encoded, "\(c["name"] ?? "?")")
            #expect(try CanonicalValue(decoding: encoded) == value, "\(c["name"] ?? "?") decodes back")
        }
        for c in PortalVectorTests.cases(file, "transactions") {
            let bytes = try Self.hex(c["bytes"])
            let transaction = try VerifiedTransaction.verify(try Transaction(decoding: bytes))
            #expect(transaction.id.hex == c["id"] as? String)
            #expect(Hex.encode(bytes.prefix(transaction.transaction.bodyLength)) == c["body"] as? String)
            #expect(transaction.body.args == (try Self.untagged(c["args"])))
            #expect(transaction.body.chainId == c["chain_id"] as? String && String(transaction.body.sequence) == c["sequence"] as? String)
        }
        // Each call's encoding decodes as the contract's typed arguments.
        for c in PortalVectorTests.cases(file, "calls") {
            let args = try CanonicalValue(decoding: try Self.hex(c["encoded"]))
            switch (c["contract"] as? String, c["method"] as? String) {
            case ("consent", "grant"): _ = try ConsentContract.Grant(args: args)
            case ("consent", "revoke"): _ = try ConsentContract.Revoke(args: args)
            case ("membership", "rotateKey"): _ = try MembershipContract.RotateKey(args: args)
            case ("membership", "registerPatient"): _ = try MembershipContract.RegisterPatient(args: args)
            case ("trials", "withdraw"): _ = try TrialsContract.Withdraw(args: args)
            case ("claims", "decideAuthorization"): _ = try ClaimsContract.DecideAuthorization(args: args)
            case ("rx", "fill"): _ = try PrescriptionContract.Fill(args: args)
            case ("supply", "verify"): _ = try SupplyChainContract.Verify(args: args)
            default: Issue.record("unexpected call \(c["name"] ?? "?")")
            }
        }
    }
}
