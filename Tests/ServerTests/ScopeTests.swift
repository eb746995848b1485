import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
@testable import Server
import Testing

/// Security review finding 6: SMART scopes were echoed but not enforced (a token requested with
/// `patient/Patient.read` created an Observation, 201) and unknown scopes became `system/*.*`.
@Suite("SMART scopes: v1 and v2 syntax, unknown scopes refused, every interaction checked", .serialized)
struct ScopeTests {
    /// (scope text, parses?, type asked, permissions asked, allowed?)
    static let grammar: [(String, Bool, String, Scopes.Permissions, Bool)] = [
        ("system/*.*", true, "Observation", .all, true),
        ("system/*.read", true, "Observation", [.read, .search], true),
        ("system/*.read", true, "Observation", [.create], false),
        ("user/Observation.write", true, "Observation", [.create, .update, .delete], true),
        ("user/Observation.write", true, "Observation", [.read], false),
        ("patient/Patient.read", true, "Observation", [.create], false),
        ("patient/Patient.read", true, "Patient", [.read], true),
        ("system/Observation.rs", true, "Observation", [.read, .search], true),
        ("system/Observation.rs", true, "Observation", [.create], false),
        ("system/Observation.cruds", true, "Observation", .all, true),
        ("system/Observation.cud", true, "Observation", [.update], true),
        ("system/Observation.rs", true, "*", [.read], false),  // a type scope does not cover every type
        ("system/Observation.sr", false, "", [], false),  // v2 letters out of order
        ("system/Observation.x", false, "", [], false),
        ("system/Observation.", false, "", [], false),
        ("admin/*.*", false, "", [], false),
        ("system/observation.read", false, "", [], false),
        ("openid", false, "", [], false),
        ("launch/patient", false, "", [], false),
        ("", false, "", [], false),
    ]

    @Test(arguments: 0..<grammar.count)
    func grammarAndCoverage(row: Int) {
        let (text, parses, type, needed, allowed) = Self.grammar[row]
        switch Scopes.parse(text) {
        case .success(let scopes):
            #expect(parses, "“\(text)” parsed")
            #expect(scopes.allow(needed, on: type) == allowed, "“\(text)” on \(type)")
        case .failure:
            #expect(!parses, "“\(text)” was refused")
        }
    }

    /// (method, path, type, permissions) for the interactions.
    static let interactions: [(HTTPRequest.Method, String, String, Scopes.Permissions)] = [
        (.get, "/fhir/Observation/1", "Observation", [.read]),
        (.get, "/fhir/Observation/1/_history/2", "Observation", [.read]),
        (.get, "/fhir/Observation", "Observation", [.search]),
        (.post, "/fhir/Observation/_search", "Observation", [.search]),
        (.post, "/fhir/Observation", "Observation", [.create]),
        (.put, "/fhir/Observation/1", "Observation", [.update]),
        (.delete, "/fhir/Observation/1", "Observation", [.delete]),
        (.get, "/fhir/Observation/_history", "Observation", [.search]),
        (.get, "/fhir/Patient/1/$everything", "*", [.read, .search]),
        (.get, "/fhir/$export", "*", [.read, .search]),
        (.post, "/fhir", "*", [.create, .update]),
        (.get, "/v1/log/sth", "*", [.read]),
        (.post, "/v1/txs", "*", [.create]),
    ]

    @Test func eachInteractionNeedsItsPermission() {
        for (method, path, type, permissions) in Self.interactions {
            let needed = Scopes.needed(method: method, path: path)
            #expect(needed.type == type && needed.permissions == permissions, "\(method) \(path)")
        }
    }

    static func scoped(_ client: some TestClientProtocol, for keys: IdentityKeys, scope: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        let assertion = try await TokenAuthority.makeAssertion(for: keys, tokenURL: ServerFixture.tokenURL)
        return try await client.execute(uri: "/auth/token", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                        body: form(["grant_type": "client_credentials", "client_assertion": assertion, "scope": scope,
                                                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"])) { response in
            (response.status, object(response.body))
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func aReadScopeCannotWriteAndUnknownScopesAreRefused() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let (refused, error) = try await Self.scoped(client, for: fixture.doctor, scope: "patient/Patient.read superuser")
            #expect(refused == .badRequest && error["error"] as? String == "invalid_scope", "\(error)")

            let (status, granted) = try await Self.scoped(client, for: fixture.doctor, scope: "patient/Patient.read")
            #expect(status == .ok && granted["scope"] as? String == "patient/Patient.read")
            let reader = FHIRClient(client: client, bearer: try #require(granted["access_token"] as? String))
            let full = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await full.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)

            // The finding: creating an Observation with a Patient-read token was 201.
            let write = try await reader.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientID, code: "8867-4", date: "2025-01-02"))
            #expect(write.status == .forbidden, "\(write.json)")
            #expect((write.json["issue"] as? [[String: Any]])?.first?["diagnostics"] as? String != nil || write.json["error"] != nil)
            // What the scope grants still works; what it does not is 403, the ledger untouched.
            #expect(try await reader.call(.get, "/fhir/Patient/\(patientID)").status == .ok)
            #expect(try await reader.call(.get, "/fhir/Observation?patient=\(patientID)").status == .forbidden)
            #expect(try await reader.call(.get, "/v1/log/sth").status == .forbidden)
            #expect(try await full.call(.get, "/fhir/Observation?patient=\(patientID)").json["total"] as? Int == 0)
        } }
    }
}
