import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import Server
import Testing

/// What schemathesis found on 2026-12-05 (docs/security.md, "schemathesis"), each as a plain
/// request: before the fix the first two stopped the node (a trap converting the number for
/// SQLite), the others were bad input answered as if it were absent.
@Suite("schemathesis findings: out-of-range numbers are 4xx, the node keeps serving", .serialized)
struct SchemathesisFindingsTests {
    static let pastInt64 = "9223372036854775808"

    @Test(.timeLimit(.minutes(5)))
    func aBlockHeightPastInt64IsNotFoundAndTheNodeKeepsServing() async throws {
        try await ServerFixture.with { fixture in try await fixture.application.test(.router) { client in
            let bearer: HTTPFields = [.authorization: "Bearer \(try await token(client, for: fixture.hospital))"]
            for height in [Self.pastInt64, String(UInt64.max)] {
                try await client.execute(uri: "/v1/blocks/\(height)", method: .get, headers: bearer) { response in
                    #expect(response.status == .notFound, "\(height): \(String(buffer: response.body))")
                    #expect(object(response.body)["error"] as? String == "not_found")
                }
            }
            try await client.execute(uri: "/v1/blocks/0", method: .get, headers: bearer) { response in
                #expect(response.status == .ok && object(response.body)["height"] as? Int == 0)
            }
        } }
    }

    @Test(.timeLimit(.minutes(5)))
    func anAccessLogPageAfterAnIndexPastInt64IsEmptyAndABadAfterIsRefused() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let bearer: HTTPFields = [.authorization: "Bearer \(try await token(client, for: fixture.hospital))"]
            let patient = Hash256.sha256(Array("patient".utf8)).hex
            try await client.execute(uri: "/v1/patients/\(patient)/access-log?after=\(Self.pastInt64)", method: .get, headers: bearer) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                #expect((object(response.body)["entries"] as? [Any])?.isEmpty == true)
            }
            // Before: a non-number was ignored and the first page served.
            try await client.execute(uri: "/v1/patients/\(patient)/access-log?after=abc", method: .get, headers: bearer) { response in
                #expect(response.status == .badRequest, "\(String(buffer: response.body))")
                #expect((object(response.body)["message"] as? String)?.contains("after") == true)
            }
            // The same store lookup behind FHIR: AuditEvent/audit-N with N past Int64.max.
            try await client.execute(uri: "/fhir/AuditEvent/audit-\(Self.pastInt64)", method: .get, headers: bearer) { response in
                #expect(response.status == .notFound, "\(String(buffer: response.body))")
            }
        } }
    }

    @Test(.timeLimit(.minutes(5)))
    func waitMustBeTrueOrFalse() async throws {
        try await ServerFixture.with { fixture in try await fixture.application.test(.router) { client in
            let bearer = "Bearer \(try await token(client, for: fixture.hospital))"
            // Before: any value but "true" meant "do not wait", and the transaction was admitted.
            let body = ByteBuffer(bytes: fixture.anchor(2, "wait-check").bytes)
            try await client.execute(uri: "/v1/txs?wait=yes", method: .post,
                                     headers: [.authorization: bearer, .contentType: "application/octet-stream"], body: body) { response in
                #expect(response.status == .badRequest, "\(String(buffer: response.body))")
                #expect((object(response.body)["message"] as? String)?.contains("wait") == true)
            }
        } }
    }
}
