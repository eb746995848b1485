import Dispatch
import LedgerCore
import Storage
import Synchronization

/// Group commit for the audit log: concurrent appends that arrive while one durable write is in
/// flight are written together in the next one, so many reads share each fsync. Every caller
/// still resumes only after its own entries are durable.
final class AuditBatcher: Sendable {
    typealias Entries = [(bytes: [UInt8], patient: IdentityID)]
    private struct Waiting {
        var pending: [(entries: Entries, continuation: CheckedContinuation<UInt64, any Error>)] = []
        var writing = false
    }

    private let vault: any VaultStore
    private let state = Mutex(Waiting())
    /// Most entries written in one batch (the vault's own limit).
    static let batchEntriesMax = SQLiteVaultStore.auditBatchMax

    init(vault: any VaultStore) { self.vault = vault }

    /// Appends `entries` durably; returns the log index of the first one.
    func append(_ entries: Entries) async throws -> UInt64 {
        precondition(!entries.isEmpty && entries.count <= Self.batchEntriesMax, "audit append of \(entries.count) entries")
        return try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { waiting -> Bool in
                waiting.pending.append((entries, continuation))
                guard !waiting.writing else { return false }
                waiting.writing = true
                return true
            }
            if start { DispatchQueue.global().async { self.drain() } }
        }
    }

    /// Writes what is pending, batch after batch, until nothing is left.
    private func drain() {
        while true {
            let batch = state.withLock { waiting -> [(entries: Entries, continuation: CheckedContinuation<UInt64, any Error>)] in
                var taken: [(entries: Entries, continuation: CheckedContinuation<UInt64, any Error>)] = []
                var count = 0
                while let next = waiting.pending.first, count + next.entries.count <= Self.batchEntriesMax {
                    taken.append(waiting.pending.removeFirst())
                    count += next.entries.count
                }
                if taken.isEmpty { waiting.writing = false }
                return taken
            }
            guard !batch.isEmpty else { return }
            let all = batch.flatMap(\.entries)
            do {
                let size = try vault.appendAudit(all)
                var first = size - UInt64(all.count)
                for item in batch {
                    item.continuation.resume(returning: first)
                    first += UInt64(item.entries.count)
                }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
    }
}
