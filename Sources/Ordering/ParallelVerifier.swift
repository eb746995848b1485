import Dispatch
public import LedgerCore

/// Checks Ed25519 signatures on all cores. Signature checking is the node's main CPU cost
/// (≈ 15,000/s per core), so it runs before the single-threaded admission step, in parallel.
public enum ParallelVerifier {
    /// Transactions per parallel work item; big enough to amortize dispatch.
    static let chunkTransactions = 64

    /// Verifies each transaction's signature; results are in input order.
    public static func verify(_ transactions: [Transaction]) async -> [Result<VerifiedTransaction, TransactionError>] {
        if transactions.count <= chunkTransactions {
            return transactions.map { tx in Result { () throws(TransactionError) in try VerifiedTransaction.verify(tx) } }
        }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: verifyBlocking(transactions))
            }
        }
    }

    /// Synchronous form, for callers already off the cooperative pool.
    public static func verifyBlocking(_ transactions: [Transaction]) -> [Result<VerifiedTransaction, TransactionError>] {
        AllCores.map(transactions, chunk: chunkTransactions) { tx in Result { () throws(TransactionError) in try VerifiedTransaction.verify(tx) } }
    }
}
