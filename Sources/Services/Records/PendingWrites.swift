public import Node
public import Storage

extension AccessService {
    /// Runs `register` (the on-chain registration of `versions`, already stored as pending) and
    /// then settles them: those the chain accepted are published, and when the ledger definitely
    /// refused (`isRefusal`) the rest and their ciphertext are removed. A refused write leaves no
    /// index entry and no orphan blob (security review finding 5); a write that timed out stays
    /// pending, since it may still commit, until the next settle or restart.
    /// With `deferred`, committed versions are gathered there instead, for the caller to publish in bulk.
    public func registering<T>(_ versions: [StoredRecordVersion], isRefusal: (any Error) -> Bool = { $0 is Refused },
                               deferred: PublishBatch? = nil, _ register: () async throws -> T) async throws -> T {
        let pending = versions.map(\.pending)
        let result: T
        do { result = try await register() } catch {
            let refused = isRefusal(error)
            _ = try? await vaultWrites.run { try self.settle(pending, refused: refused) }
            throw error
        }
        // The write is committed whatever happens next: a failure to publish its index entries
        // leaves them pending (its content is readable already), and the next restart publishes them.
        // (On the blocking-I/O thread, with other writes' publishes queued meanwhile.)
        if let deferred { deferred.add(pending) } else { try? await publishCommitted(pending) }
        return result
    }
}
