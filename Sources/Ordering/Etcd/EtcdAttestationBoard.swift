public import LedgerCore
import Synchronization

/// The consortium's attestation board in etcd: each attestation is one key,
/// `careledger/CHAIN/attest/HEIGHT/ATTESTER` (the height zero-padded so keys sort by height),
/// put in groups of up to 100 in one etcd transaction (one round trip for many blocks' attestations).
/// A node counts the first attestation it sees per organization and height; an organization that
/// puts a second, different one for a height has equivocated, which every node sees in the log.
/// A subscriber reads the keys from its height on, then watches for new ones; if etcd compacted
/// the revisions between, it reads again (attestations are keys, not history: compaction keeps them).
public final class EtcdAttestationBoard: AttestationBoard, CheckpointBoard {
    private let client: EtcdClient
    private let chainId: String
    private let clock: any LedgerClock
    private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])

    public init(client: EtcdClient, chainId: String, clock: any LedgerClock) {
        (self.client, self.chainId, self.clock) = (client, chainId, clock)
    }

    private var prefix: [UInt8] { Array("careledger/\(chainId)/attest/".utf8) }
    private var checkpointPrefix: [UInt8] { Array("careledger/\(chainId)/checkpoint/".utf8) }

    /// `prefix` + the zero-padded height (keys sort by height) + `/` + the attester; without one,
    /// the prefix of the height's keys.
    private static func key(_ prefix: [UInt8], height: UInt64, attester: IdentityID?) -> [UInt8] {
        let digits = String(height)
        let padded = String(repeating: "0", count: max(0, 20 - digits.count)) + digits
        return prefix + Array((padded + "/" + (attester?.hex ?? "")).utf8)
    }

    private func key(height: UInt64, attester: IdentityID?) -> [UInt8] { Self.key(prefix, height: height, attester: attester) }

    public func publish(_ attestations: [Attestation]) async throws {
        for start in stride(from: 0, to: attestations.count, by: 100) {
            let group = attestations[start..<min(start + 100, attestations.count)]
            try await client.putAll(group.map { (key(height: $0.height, attester: $0.attester), $0.encoded) })
        }
    }

    /// The attestations published for one height (undecodable values skipped; the caller verifies).
    public func attestations(height: UInt64) async throws -> [Attestation] {
        try await client.range(prefix: key(height: height, attester: nil), limit: 1_000).values
            .compactMap { try? Attestation(decoding: $0.value) }
    }

    public func attestations(from height: UInt64) -> AsyncStream<[Attestation]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Attestation].self, bufferingPolicy: .unbounded)
        let task = Task { [client, prefix, clock] in
            let start = self.key(height: height, attester: nil)
            var backoffMs: Int64 = 50
            while !Task.isCancelled {
                do {
                    // What is there now, page by page, then everything after that revision.
                    var after: [UInt8]? = nil
                    var revision: Int64? = nil
                    while true {
                        let page = try await client.range(prefix: prefix, after: after ?? Array(start.dropLast()), limit: 500, revision: revision)
                        revision = page.revision
                        let found = page.values.compactMap { try? Attestation(decoding: $0.value) }.filter { $0.height >= height }
                        if !found.isEmpty { continuation.yield(found) }
                        guard page.more, let last = page.values.last else { break }
                        after = last.key
                    }
                    for try await watched in client.watch(prefix: prefix, from: (revision ?? 0) + 1) {
                        let found = watched.values.compactMap { try? Attestation(decoding: $0.value) }.filter { $0.height >= height }
                        if !found.isEmpty { continuation.yield(found) }
                        backoffMs = 50
                    }
                } catch {}
                // Dropped or compacted: read again (duplicates are harmless to the receiver).
                try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + backoffMs)
                backoffMs = min(backoffMs * 2, 2_000)
            }
            continuation.finish()
        }
        tasks.withLock { $0.append(task) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Deletes every organization's attestation keys for heights below `height` (one request; any
    /// node may do it, and doing it twice changes nothing).
    public func retire(below height: UInt64) async throws {
        try await client.deleteRange(from: prefix, to: key(height: height, attester: nil))
    }

    // MARK: checkpoint statements, `careledger/CHAIN/checkpoint/HEIGHT/ATTESTER`

    private func checkpointKey(height: UInt64, attester: IdentityID?) -> [UInt8] { Self.key(checkpointPrefix, height: height, attester: attester) }

    public func publish(_ statements: [CheckpointStatement]) async throws {
        try await client.putAll(statements.map { (checkpointKey(height: $0.height, attester: $0.attester), $0.encoded) })
    }

    public func retireStatements(below height: UInt64) async throws {
        try await client.deleteRange(from: checkpointPrefix, to: checkpointKey(height: height, attester: nil))
    }

    public func checkpointStatements() async throws -> [CheckpointStatement] {
        // Keys sort by height: read them all (a few per organization and checkpoint) and keep the newest.
        var found: [CheckpointStatement] = []
        var after: [UInt8]?
        while true {
            let page = try await client.range(prefix: checkpointPrefix, after: after, limit: 500)
            found += page.values.compactMap { try? CheckpointStatement(decoding: $0.value) }
            guard page.more, let last = page.values.last else { break }
            after = last.key
        }
        return Array(found.sorted { $0.height > $1.height }.prefix(CheckpointBoardLimits.statementsMax))
    }

    public func close() {
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }
}
