import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Contracts
import LedgerCore
import Node
import Server
import Storage
import Testing

/// Security review finding 7 (and the assertion-cache part of finding 12): the token endpoint takes
/// an assertion once, for this node only, and no identity can crowd the others out.
@Suite("Token endpoint: one use per assertion across restarts, this node's audience only, a limit per identity", .serialized)
struct TokenEndpointTests {
    @Test(.timeLimit(.minutes(3)))
    func aReplayedAssertionIsRefusedAfterARestart() async throws {
        try await ServerFixture.with { fixture in
            let path = fixture.directory.appendingPathComponent("restart-assertions.sqlite").path
            let assertion = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: ServerFixture.tokenURL)
            let before = await TokenAuthority(nodeKeys: fixture.nodeKeys, chainId: ServerFixture.chainId, publicURL: ServerFixture.publicURL,
                                              usedAssertions: try SQLiteUsedAssertions(path: path))
            #expect(try await before.verifyAssertion(assertion, state: fixture.node.state).id == fixture.clinician.derivedID)
            // A new process: a new authority over the same file.
            let after = await TokenAuthority(nodeKeys: fixture.nodeKeys, chainId: ServerFixture.chainId, publicURL: ServerFixture.publicURL,
                                             usedAssertions: try SQLiteUsedAssertions(path: path))
            await #expect(throws: APIError.self) { try await after.verifyAssertion(assertion, state: fixture.node.state) }
            do { _ = try await after.verifyAssertion(assertion, state: fixture.node.state) } catch let error as APIError {
                #expect(error.status == .badRequest && "\(error)".contains("already used"), "\(error)")
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func oneIdentityAtItsLimitDoesNotStopAnother() async throws {
        try await ServerFixture.with { fixture in
            let authority = await TokenAuthority(nodeKeys: fixture.nodeKeys, chainId: ServerFixture.chainId, publicURL: ServerFixture.publicURL,
                                                 usedAssertions: InMemoryUsedAssertions())
            for _ in 0..<UsedAssertions.perIdentityMax {
                let assertion = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: ServerFixture.tokenURL)
                _ = try await authority.verifyAssertion(assertion, state: fixture.node.state)
            }
            let oneTooMany = try await TokenAuthority.makeAssertion(for: fixture.clinician, tokenURL: ServerFixture.tokenURL)
            do {
                _ = try await authority.verifyAssertion(oneTooMany, state: fixture.node.state)
                Issue.record("the identity's assertion over its limit was accepted")
            } catch let error as APIError {
                #expect(error.status == .tooManyRequests, "\(error)")
            }
            let other = try await TokenAuthority.makeAssertion(for: fixture.hospital, tokenURL: ServerFixture.tokenURL)
            #expect(try await authority.verifyAssertion(other, state: fixture.node.state).id == fixture.hospital.derivedID)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func metadataNamesTheConfiguredTokenURLWhateverTheHostHeader() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            try await client.execute(uri: "/fhir/metadata", method: .get, headers: [HTTPField.Name("Host")!: "evil.example"]) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains(ServerFixture.tokenURL), "\(body.prefix(600))")
                #expect(!body.contains("evil.example"))
            }
        } }
    }
}
