import Contracts
import LedgerCore
import FHIR
import Services
import Testing

/// Security review finding 11: the node's export jobs were shared by everyone, so one identity's
/// eight jobs made every other identity's export 429.
@Suite("Export jobs: a limit per identity under the node's limit")
struct ExportJobLimitTests {
    @Test func oneIdentityCannotTakeEverySlot() async throws {
        let jobs = ExportJobs()
        let (greedy, other) = (Hash256.sha256([1]), Hash256.sha256([2]))
        for _ in 0..<ExportJobs.jobsPerIdentityMax { _ = try await jobs.start(owner: greedy, request: "$export", purpose: .treatment) { _ in } }
        await #expect(throws: FHIRError.self) { try await jobs.start(owner: greedy, request: "$export", purpose: .treatment) { _ in } }
        do { _ = try await jobs.start(owner: greedy, request: "$export", purpose: .treatment) { _ in } } catch let error as FHIRError {
            #expect(error.status == 429 && error.diagnostics.contains("you have"), "\(error)")
        }
        // Another identity still gets a job.
        _ = try await jobs.start(owner: other, request: "$export", purpose: .treatment) { _ in }
        // Deleting one of its own frees a slot for the first.
        let third = IdentityID.sha256([3])
        let id = try await jobs.start(owner: third, request: "$export", purpose: .treatment) { _ in }
        try await jobs.delete(id, owner: third)
        _ = try await jobs.start(owner: third, request: "$export", purpose: .treatment) { _ in }
    }

    @Test func theNodeLimitStillHolds() async throws {
        let jobs = ExportJobs()
        for owner in 0..<(ExportJobs.jobsMax / ExportJobs.jobsPerIdentityMax) {
            for _ in 0..<ExportJobs.jobsPerIdentityMax { _ = try await jobs.start(owner: Hash256.sha256([UInt8(owner)]), request: "$export", purpose: .treatment) { _ in } }
        }
        await #expect(throws: FHIRError.self) { try await jobs.start(owner: Hash256.sha256([200]), request: "$export", purpose: .treatment) { _ in } }
    }
}
