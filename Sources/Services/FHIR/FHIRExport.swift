public import Contracts
public import FHIR
public import Foundation
public import LedgerCore
import Node

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

    /// One NDJSON file of a job: each line with the record version it holds.
    public struct Output: Sendable {
        public let type: String
        public let lines: [(record: Hash256, version: UInt64, bytes: [UInt8])]
        public var count: Int { lines.count }
    }

    public struct Job: Sendable {
        public let owner: IdentityID
        public let request: String
        /// The purpose the export was made for; downloads are decided for it again.
        public let purpose: Purpose
        public let started: Date
        public var finished: Date?
        public var progress = "queued"
        public var outputs: [Output] = []
        public var error: String?
        var task: Task<Void, Never>?
    }

    private var jobs: [String: Job] = [:]

    public init() {}

    public func start(owner: IdentityID, request: String, purpose: Purpose, work: @escaping @Sendable (String) async -> Void) throws(FHIRError) -> String {
        let now = Date()
        jobs = jobs.filter { $0.value.finished.map { now.timeIntervalSince($0) < Self.keepSeconds } ?? true }
        let mine = jobs.values.filter { $0.owner == owner }.count
        guard mine < Self.jobsPerIdentityMax else {
            throw FHIRError(429, "throttled", "you have \(mine) export jobs kept (at most \(Self.jobsPerIdentityMax)); DELETE one or wait for it to expire")
        }
        guard jobs.count < Self.jobsMax else { throw FHIRError(429, "throttled", "too many export jobs on this node; retry later") }
        let id = UUID().uuidString.lowercased()
        jobs[id] = Job(owner: owner, request: request, purpose: purpose, started: now)
        jobs[id]?.task = Task { await work(id) }
        return id
    }

    public func progress(_ id: String, _ text: String) { jobs[id]?.progress = text }

    public func finish(_ id: String, outputs: [Output], error: String?) {
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
        var outputs: [ExportJobs.Output] = []
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
                var lines: [(record: Hash256, version: UInt64, bytes: [UInt8])] = []
                var bytes = 0
                var offset = 0
                while offset < all.total {
                    var page = try SearchQuery(type: type, pairs: [("_count", "500"), ("_offset", String(offset))], strict: false)
                    page.ascending = true
                    let result = try await search(page, requester: requester, purpose: purpose)
                    guard !result.matches.isEmpty else { break }
                    for match in result.matches {
                        let line = FHIRJSON.data(match.resource, sorted: false) + [10]
                        lines.append((match.entry.record, match.entry.version, line))
                        bytes += line.count
                    }
                    guard earlierBytes + bytes <= ExportJobs.outputBytesMax else {
                        throw FHIRError(400, "too-costly", "export output passed \(ExportJobs.outputBytesMax >> 20) MiB; export fewer types")
                    }
                    offset += result.matches.count
                }
                if !lines.isEmpty { outputs.append(ExportJobs.Output(type: type, lines: lines)) }
                earlierBytes += bytes
            }
            await jobs.finish(id, outputs: outputs, error: nil)
        } catch {
            await jobs.finish(id, outputs: [], error: "\(error)")
        }
    }

    /// An export file as its owner downloads it: every line's record is decided again for the
    /// export's purpose and logged before anything is released (security review finding 10: a
    /// file made before a consent was revoked was served for up to an hour after). Lines no
    /// longer permitted are left out.
    public func exportFile(job id: String, file name: String, requester: Identity) async throws(FHIRError) -> [UInt8] {
        let job = try await exports.job(id, owner: requester.id)
        guard name.hasSuffix(".ndjson"), let output = job.outputs.first(where: { "\($0.type).ndjson" == name }) else {
            throw .notFound("no export file \(name.prefix(80))")
        }
        let requests = output.lines.map { AccessRequest(requester: requester.id, record: $0.record, purpose: job.purpose, action: .read,
                                                         version: $0.version) }
        let decisions: [Decision]
        do { decisions = try await access.authorize(requests).decisions } catch { throw Self.map(error) }
        var out: [UInt8] = []
        for (line, decision) in zip(output.lines, decisions) where decision.isPermitted { out += line.bytes }
        return out
    }
}
