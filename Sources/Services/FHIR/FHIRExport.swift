public import Contracts
public import FHIR
public import Foundation
public import LedgerCore

/// FHIR Bulk Data `$export` (async kick-off, status, NDJSON). Output is PHI, so it is kept only in
/// memory — never written to disk — for its requester, and dropped an hour after it completes.
public actor ExportJobs {
    /// Most jobs kept (running or finished) at once, for everyone: with `outputBytesMax`, what
    /// export output may take of the node's memory.
    public static let jobsMax = 8
    /// Most jobs one identity may have kept at once, so no identity takes every slot.
    public static let jobsPerIdentityMax = 2
    /// Largest output of one job.
    public static let outputBytesMax = 256 << 20
    /// How long finished output is kept.
    public static let keepSeconds: TimeInterval = 3_600

    public struct Job: Sendable {
        public let owner: IdentityID
        public let request: String
        public let started: Date
        public var finished: Date?
        public var progress = "queued"
        public var outputs: [(type: String, data: [UInt8], count: Int)] = []
        public var error: String?
        var task: Task<Void, Never>?
    }

    private var jobs: [String: Job] = [:]

    public init() {}

    public func start(owner: IdentityID, request: String, work: @escaping @Sendable (String) async -> Void) throws(FHIRError) -> String {
        let now = Date()
        jobs = jobs.filter { $0.value.finished.map { now.timeIntervalSince($0) < Self.keepSeconds } ?? true }
        let mine = jobs.values.filter { $0.owner == owner }.count
        guard mine < Self.jobsPerIdentityMax else {
            throw FHIRError(429, "throttled", "you have \(mine) export jobs kept (at most \(Self.jobsPerIdentityMax)); DELETE one or wait for it to expire")
        }
        guard jobs.count < Self.jobsMax else { throw FHIRError(429, "throttled", "too many export jobs on this node; retry later") }
        let id = UUID().uuidString.lowercased()
        jobs[id] = Job(owner: owner, request: request, started: now)
        jobs[id]?.task = Task { await work(id) }
        return id
    }

    public func progress(_ id: String, _ text: String) { jobs[id]?.progress = text }

    public func finish(_ id: String, outputs: [(type: String, data: [UInt8], count: Int)], error: String?) {
        jobs[id]?.outputs = outputs
        jobs[id]?.error = error
        jobs[id]?.finished = Date()
    }

    public func job(_ id: String, owner: IdentityID) throws(FHIRError) -> Job {
        guard let job = jobs[id] else { throw .notFound("no export job \(id)") }
        guard job.owner == owner else { throw .forbidden("this export belongs to another identity") }
        return job
    }

    public func delete(_ id: String, owner: IdentityID) throws(FHIRError) {
        let job = try job(id, owner: owner)
        job.task?.cancel()
        jobs[id] = nil
    }
}

extension FHIRService {
    /// Runs an export: every resource of `types` (all supported types when empty; only those in
    /// `patients`' compartments for a Patient-level export) that the requester may read, each
    /// read logged like any other.
    public func runExport(types: [String], patientLevel: Bool, requester: Identity, purpose: Purpose,
                   jobs: ExportJobs, id: String) async {
        var outputs: [(type: String, data: [UInt8], count: Int)] = []
        var earlierBytes = 0
        let wanted = types.isEmpty ? FHIR.CapabilityStatement.supportedTypes : types
        do {
            for (index, type) in wanted.enumerated() {
                if Task.isCancelled { return }
                await jobs.progress(id, "\(index)/\(wanted.count) types")
                if patientLevel, RecordsContract.directoryResourceTypes.contains(type) { continue }
                let query = try SearchQuery(type: type, pairs: [("_count", "0")], strict: false)
                let all = try await search(query, requester: requester, purpose: purpose)
                guard all.total > 0 else { continue }
                var lines: [UInt8] = []
                var count = 0
                var offset = 0
                while offset < all.total {
                    var page = try SearchQuery(type: type, pairs: [("_count", "500"), ("_offset", String(offset))], strict: false)
                    page.ascending = true
                    let result = try await search(page, requester: requester, purpose: purpose)
                    guard !result.matches.isEmpty else { break }
                    for match in result.matches {
                        lines += FHIRJSON.data(match.resource, sorted: false) + [10]
                        count += 1
                    }
                    guard earlierBytes + lines.count <= ExportJobs.outputBytesMax else {
                        throw FHIRError(400, "too-costly", "export output passed \(ExportJobs.outputBytesMax >> 20) MiB; export fewer types")
                    }
                    offset += result.matches.count
                }
                if count > 0 { outputs.append((type, lines, count)) }
                earlierBytes += lines.count
            }
            await jobs.finish(id, outputs: outputs, error: nil)
        } catch {
            await jobs.finish(id, outputs: [], error: "\(error)")
        }
    }
}
