import Contracts
import Crypto
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

/// A node with one hospital and one enrolled clinician. Route tests call its app in-process
/// (`.test(.router)`); a few go over a real loopback socket (`.test(.live)`).
struct ServerFixture {
    let directory: URL
    let node: LedgerNode
    let services: ServerServices
    let hospital = IdentityKeys(seed: Array(repeating: 1, count: 32))
    let clinician = IdentityKeys(seed: Array(repeating: 2, count: 32))
    let nodeKeys = IdentityKeys(seed: Array(repeating: 9, count: 32))
    static let chainId = "server-test"
    /// The node's configured URL; client assertions name its /auth/token.
    static let publicURL = "http://127.0.0.1"
    static let tokenURL = publicURL + "/auth/token"

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path)
        _ = try Genesis.create(in: store, chainId: Self.chainId, founders: [Founder(keys: hospital, label: "hospital", type: .hospital)],
                               ordererKeys: nodeKeys, timeMs: 1_800_000_000_000)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: .init(blockDelayMs: 2))
        // No records here, but an access log: decisions to show a claim, a prescription or a session are logged in it.
        let access = AccessService(node: node, vault: InMemoryVaultStore(), custodians: [],
                                   indexKey: try BlindIndexKey(secret: Array(repeating: 8, count: 32)))
        services = ServerServices(node: node, nodeKeys: nodeKeys,
                                  tokens: await TokenAuthority(nodeKeys: nodeKeys, chainId: Self.chainId, publicURL: Self.publicURL,
                                                               usedAssertions: try SQLiteUsedAssertions(path: directory.appendingPathComponent("assertions.sqlite").path)),
                                  access: access)
        let enroll = Transaction.sign(TransactionBody(
            chainId: Self.chainId, sender: hospital.derivedID, publicKey: hospital.signingPublicKey, sequence: 2,
            call: MembershipContract.Enroll(label: "dr-a", roles: [.clinician], signingKey: clinician.signingPublicKey,
                                            agreementKey: clinician.agreementPublicKey)), with: hospital)
        _ = try await node.submitAndWait(enroll, timeoutMs: 60_000)
    }

    /// Runs `body` with a fresh fixture and always stops its node.
    static func with(_ body: (ServerFixture) async throws -> Void) async throws {
        let fixture = try await ServerFixture()
        do { try await body(fixture) } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    func stop() async {
        await node.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    var application: some ApplicationProtocol { LedgerServer.application(services, port: 0) }

    func anchor(_ sequence: UInt64, _ label: String) -> Transaction {
        Transaction.sign(TransactionBody(
            chainId: Self.chainId, sender: clinician.derivedID, publicKey: clinician.signingPublicKey, sequence: sequence,
            call: AnchorContract.Put(digest: Hash256.sha256(Array(label.utf8)), kind: "document")), with: clinician)
    }
}

func form(_ fields: [String: String]) -> ByteBuffer {
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
    let text = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    return ByteBuffer(string: text)
}

/// The JSON object in a body, or an empty one (so a missing field fails the expectation that reads it).
func object(_ buffer: ByteBuffer) -> [String: Any] {
    ((try? JSONSerialization.jsonObject(with: Data(Array(buffer: buffer)))) as? [String: Any]) ?? [:]
}

/// Asks the token endpoint for a token with a fresh client assertion signed by `keys`.
func token(_ client: some TestClientProtocol, for keys: IdentityKeys) async throws -> String {
    let assertion = try await TokenAuthority.makeAssertion(for: keys, tokenURL: ServerFixture.tokenURL)
    return try await client.execute(uri: "/auth/token", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                    body: form(["grant_type": "client_credentials", "client_assertion": assertion,
                                                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"])) { response in
        #expect(response.status == .ok, "\(String(buffer: response.body))")
        return try #require(object(response.body)["access_token"] as? String)
    }
}

@Suite("HTTP server: authentication, proof API, transactions", .serialized)
struct ServerTests {
    @Test(.timeLimit(.minutes(5)))
    func tokensAreIssuedOnlyForValidAssertions() async throws {
        try await ServerFixture.with { fixture in try await fixture.application.test(.router) { client in
            // No token, a malformed header, a forged token: 401 with a JSON body and WWW-Authenticate.
            try await client.execute(uri: "/v1/log/sth", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(object(response.body)["error"] as? String == "invalid_request")
            }
            try await client.execute(uri: "/v1/log/sth", method: .get, headers: [.authorization: "Basic abc"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/log/sth", method: .get, headers: [.authorization: "Bearer eyJhbGciOiJub25lIn0.e30."]) { response in
                #expect(response.status == .unauthorized)
                #expect(object(response.body)["error"] as? String == "invalid_token")
            }
            // A token another node minted (other key) is refused.
            let otherNode = await TokenAuthority(mintingFor: IdentityKeys(seed: Array(repeating: 8, count: 32)), chainId: ServerFixture.chainId)
            let foreign = try await otherNode.mint(for: fixture.clinician.derivedID)
            try await client.execute(uri: "/v1/log/sth", method: .get, headers: [.authorization: "Bearer \(foreign.token)"]) { response in
                #expect(response.status == .unauthorized)
            }

            let good = try await token(client, for: fixture.clinician)
            try await client.execute(uri: "/v1/identities/me", method: .get, headers: [.authorization: "Bearer \(good)"]) { response in
                #expect(response.status == .ok)
                let me = object(response.body)
                #expect(me["id"] as? String == fixture.clinician.derivedID.hex)
                #expect(me["roles"] as? [String] == ["clinician"])
            }

            // Bad token requests: each a specific 400/415, and none yields a token.
            let assertion = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: ServerFixture.tokenURL)
            let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            let stranger = IdentityKeys(seed: Array(repeating: 5, count: 32))
            let forged = try await TokenAuthority.makeAssertion(for: stranger, tokenURL: ServerFixture.tokenURL)
            let longLived = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: ServerFixture.tokenURL, lifetimeSeconds: 3_600)
            let expired = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: ServerFixture.tokenURL,
                                                                 now: Date().addingTimeInterval(-600))
            let wrongAudience = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: "http://127.0.0.1/other")
            // Security review finding 7: any aud merely ending in /auth/token was accepted.
            let foreignEndpoint = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: "https://evil.example/auth/token")
            let cases: [(String, [String: String], HTTPResponse.Status, String)] = [
                ("first use", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": assertion], .ok, ""),
                ("replayed assertion", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": assertion],
                 .badRequest, "invalid_client"),
                ("unknown identity", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": forged],
                 .badRequest, "invalid_client"),
                ("lifetime over five minutes", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": longLived],
                 .badRequest, "invalid_client"),
                ("expired", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": expired],
                 .badRequest, "invalid_client"),
                ("wrong audience", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": wrongAudience],
                 .badRequest, "invalid_client"),
                ("another server's token endpoint", ["grant_type": "client_credentials", "client_assertion_type": type,
                                                     "client_assertion": foreignEndpoint], .badRequest, "invalid_client"),
                ("password grant", ["grant_type": "password", "client_assertion_type": type, "client_assertion": assertion],
                 .badRequest, "unsupported_grant_type"),
                ("no assertion", ["grant_type": "client_credentials", "client_assertion_type": type], .badRequest, "invalid_request"),
                ("garbage assertion", ["grant_type": "client_credentials", "client_assertion_type": type, "client_assertion": "a.b.c"],
                 .badRequest, "invalid_client"),
            ]
            for (name, fields, status, code) in cases {
                try await client.execute(uri: "/auth/token", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: form(fields)) { response in
                    #expect(response.status == status, "\(name): \(String(buffer: response.body))")
                    let body = object(response.body)
                    if status == .ok { #expect(body["access_token"] is String, "\(name)") } else {
                        #expect(body["error"] as? String == code, "\(name)")
                        #expect(body["access_token"] == nil, "\(name)")
                    }
                }
            }
            try await client.execute(uri: "/auth/token", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unsupportedMediaType)
            }

            // Revoking the member on-chain makes its still-unexpired token useless at once.
            let revoke = Transaction.sign(TransactionBody(
                chainId: ServerFixture.chainId, sender: fixture.hospital.derivedID, publicKey: fixture.hospital.signingPublicKey, sequence: 3,
                call: MembershipContract.Revoke(member: fixture.clinician.derivedID)), with: fixture.hospital)
            _ = try await fixture.node.submitAndWait(revoke, timeoutMs: 60_000)
            try await client.execute(uri: "/v1/identities/me", method: .get, headers: [.authorization: "Bearer \(good)"]) { response in
                #expect(response.status == .unauthorized)
                #expect((object(response.body)["message"] as? String)?.contains("revoked") == true)
            }
        } }
    }

    @Test(.timeLimit(.minutes(5)))
    func inclusionAndConsistencyProofsVerifyIndependently() async throws {
        try await ServerFixture.with { fixture in try await fixture.application.test(.router) { client in
            let bearer = "Bearer \(try await token(client, for: fixture.clinician))"
            var ids: [String] = []
            for sequence in 1...5 as ClosedRange<UInt64> {
                let transaction = fixture.anchor(sequence, "doc-\(sequence)")
                try await client.execute(uri: "/v1/txs?wait=true", method: .post,
                                         headers: [.authorization: bearer, .contentType: "application/octet-stream"],
                                         body: ByteBuffer(bytes: transaction.bytes)) { response in
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                    let body = object(response.body)
                    #expect(body["status"] as? String == "committed")
                    ids.append(try #require(body["id"] as? String))
                }
            }
            // The same transaction again is refused with a specific code and changes nothing.
            try await client.execute(uri: "/v1/txs?wait=true", method: .post, headers: [.authorization: bearer, .contentType: "application/octet-stream"],
                                     body: ByteBuffer(bytes: fixture.anchor(1, "doc-1").bytes)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(object(response.body)["error"] as? String == "sequenceReplayed")
            }
            try await client.execute(uri: "/v1/txs", method: .post, headers: [.authorization: bearer, .contentType: "application/octet-stream"],
                                     body: ByteBuffer(bytes: [1, 2, 3])) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/txs", method: .post, headers: [.authorization: bearer, .contentType: "text/plain"],
                                     body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .unsupportedMediaType)
            }

            // Newest first, under "transactions", each with its hex id.
            let listed = try await client.execute(uri: "/v1/txs?limit=3", method: .get, headers: [.authorization: bearer]) { response in
                try #require(object(response.body)["transactions"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            }
            #expect(listed == Array(ids.reversed().prefix(3)))

            let sth = try await client.execute(uri: "/v1/log/sth", method: .get, headers: [.authorization: bearer]) { object($0.body) }
            let treeSize = try #require(sth["tree_size"] as? Int)
            let root = try #require((sth["sha256_root_hash"] as? String).flatMap { Data(base64Encoded: $0) })
            // The tree head signature: Ed25519 by the key /v1/log/key publishes, over RFC 6962 §3.5's structure.
            let key = try await client.execute(uri: "/v1/log/key", method: .get, headers: [.authorization: bearer]) { object($0.body) }
            let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Data(base64Encoded: key["ed25519"] as? String ?? "")))
            let digitallySigned = try #require(Data(base64Encoded: sth["tree_head_signature"] as? String ?? ""))
            #expect(Array(digitallySigned.prefix(4)) == [0x08, 0x07, 0x00, 0x40])
            var signed = Data([0, 1])
            for value in [UInt64(try #require(sth["timestamp"] as? Int)), UInt64(treeSize)] { withUnsafeBytes(of: value.bigEndian) { signed.append(contentsOf: $0) } }
            signed.append(root)
            #expect(publicKey.isValidSignature(digitallySigned.dropFirst(4), for: signed))

            for id in ids {
                let raw = try await client.execute(uri: "/v1/txs/\(id)/raw", method: .get, headers: [.authorization: bearer]) { Data(Array(buffer: $0.body)) }
                let leaf = Data(SHA256.hash(data: Data([0]) + raw))
                let hashParameter = leaf.base64EncodedString().addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let proof = try await client.execute(uri: "/v1/log/proof-by-hash?hash=\(hashParameter)&tree_size=\(treeSize)", method: .get,
                                                     headers: [.authorization: bearer]) { object($0.body) }
                let index = try #require(proof["leaf_index"] as? Int)
                let path = try #require(proof["audit_path"] as? [String]).compactMap { Data(base64Encoded: $0) }
                #expect(RFC9162.verifyInclusion(leaf: leaf, index: UInt64(index), size: UInt64(treeSize), path: path, root: root), "\(id)")
                #expect(!RFC9162.verifyInclusion(leaf: leaf, index: UInt64(index) ^ 1, size: UInt64(treeSize), path: path, root: root))
            }
            let consistency = try await client.execute(uri: "/v1/log/consistency?first=2&second=\(treeSize)", method: .get,
                                                       headers: [.authorization: bearer]) { object($0.body) }
            let firstHead = try await client.execute(uri: "/v1/blocks/1", method: .get, headers: [.authorization: bearer]) { object($0.body) }
            #expect(firstHead["tree_size"] as? Int == 2, "genesis founds one organization, block 1 enrolls the clinician")
            let firstRoot = try #require(Data(base64Encoded: firstHead["sha256_root_hash"] as? String ?? ""))
            let consistencyPath = try #require(consistency["consistency"] as? [String]).compactMap { Data(base64Encoded: $0) }
            #expect(RFC9162.verifyConsistency(first: 2, second: UInt64(treeSize), firstRoot: firstRoot, secondRoot: root, path: consistencyPath))

            // Bad proof queries: specific 400/404.
            for (uri, status) in [("/v1/log/proof-by-hash?tree_size=1", HTTPResponse.Status.badRequest),
                                  ("/v1/log/proof-by-hash?hash=abc&tree_size=1", .badRequest),
                                  ("/v1/log/proof-by-hash?hash=\(String(repeating: "A", count: 43))%3D&tree_size=1", .notFound),
                                  ("/v1/log/consistency?first=3&second=2", .badRequest),
                                  ("/v1/log/consistency?first=1&second=99999", .badRequest),
                                  ("/v1/txs/zz", .badRequest), ("/v1/txs/\(String(repeating: "0", count: 64))", .notFound),
                                  ("/v1/blocks/999", .notFound), ("/v1/txs?limit=1000", .badRequest)] {
                try await client.execute(uri: uri, method: .get, headers: [.authorization: bearer]) { response in
                    #expect(response.status == status, "\(uri): \(String(buffer: response.body))")
                    #expect(object(response.body)["message"] is String, "\(uri)")
                }
            }
        } }
    }

    @Test(.timeLimit(.minutes(5)))
    func everyDocumentedRouteIsServed() async throws {
        // Over a real socket: the HTTP server in front of the router (routing, auth, metrics) for every documented route.
        try await ServerFixture.with { fixture in try await fixture.application.test(.live) { client in
            let bearer = "Bearer \(try await token(client, for: fixture.clinician))"
            let document = try await client.execute(uri: "/v1/openapi.json", method: .get) { object($0.body) }
            #expect(document["openapi"] as? String == "3.0.3")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            #expect(paths.count >= 14)
            for (path, operations) in paths {
                let uri = path.replacingOccurrences(of: "{id}", with: fixture.clinician.derivedID.hex).replacingOccurrences(of: "{height}", with: "0")
                    .replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
                for method in operations.keys {
                    try await client.execute(uri: uri, method: method == "post" ? .post : .get, headers: [.authorization: bearer]) { response in
                        // The router's own 404/405 carries no JSON error; a route that exists answers with its own status.
                        let routed = response.status != .notFound || (object(response.body)["error"] != nil)
                        #expect(routed && response.status != .methodNotAllowed, "\(method) \(path) → \(response.status)")
                    }
                }
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(object(response.body)["status"] as? String == "ok")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("careledger_http_requests_total"))
            }
        } }
    }
}

/// RFC 9162 §2.1.3.2 and §2.1.4.2, written here from the RFC and independent of the node's code.
enum RFC9162 {
    static func node(_ left: Data, _ right: Data) -> Data { Data(SHA256.hash(data: Data([1]) + left + right)) }

    static func verifyInclusion(leaf: Data, index: UInt64, size: UInt64, path: [Data], root: Data) -> Bool {
        guard index < size else { return false }
        var fn = index, sn = size - 1, r = leaf
        for p in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = node(p, r)
                if fn & 1 == 0 { while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 } }
            } else {
                r = node(r, p)
            }
            fn >>= 1; sn >>= 1
        }
        return sn == 0 && r == root
    }

    static func verifyConsistency(first: UInt64, second: UInt64, firstRoot: Data, secondRoot: Data, path: [Data]) -> Bool {
        guard first <= second else { return false }
        if first == second { return path.isEmpty && firstRoot == secondRoot }
        var path = path
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }   // first is a power of two
        guard !path.isEmpty else { return false }
        var fn = first - 1, sn = second - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = node(c, fr); sr = node(c, sr)
                if fn & 1 == 0 { while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 } }
            } else {
                sr = node(sr, c)
            }
            fn >>= 1; sn >>= 1
        }
        return sn == 0 && fr == firstRoot && sr == secondRoot
    }
}
