public import LedgerCore

/// A batch of transactions in their final order, with the orderer's block time.
public struct OrderedBatch: Sendable {
    public let transactions: [VerifiedTransaction]
    /// Block time, milliseconds since the Unix epoch; strictly greater than the previous batch's.
    public let timeMs: Int64
    /// Where the batch is in a shared log (`EtcdOrderer`: its etcd revision), for resuming after
    /// it; nil for the single node's orderer.
    public let position: Int64?
    /// For a block another node committed (catch-up from a peer), the hash its header has: the
    /// block this node executes from the batch must be exactly that one, or nothing is written.
    public let expectedHash: Hash256?

    public init(transactions: [VerifiedTransaction], timeMs: Int64, position: Int64? = nil, expectedHash: Hash256? = nil) {
        (self.transactions, self.timeMs, self.position, self.expectedHash) = (transactions, timeMs, position, expectedHash)
    }
}

/// Why the orderer refused transactions.
public enum OrderingError: Error, Sendable, Equatable, CustomStringConvertible {
    case closed
    /// The ordering service cannot take transactions now (an etcd cluster without a quorum); what
    /// was handed over before is kept and ordered once it can.
    case unavailable(String)

    public var description: String {
        switch self {
        case .closed: "the orderer is closed"
        case .unavailable(let why): "the ordering service is unavailable: \(why)"
        }
    }
}

/// Puts admitted transactions into one total order and hands them out as batches (future blocks).
///
/// `submit` is synchronous, so a caller that admits transactions in sequence order hands them over
/// in that order. `nextBatch` is pulled by the single committer: while a block is being written,
/// new transactions pile up and the next pull takes them all (up to the limit): group commit.
public protocol Orderer: Sendable {
    /// Appends transactions to the order, keeping their relative order.
    func submit(_ transactions: [VerifiedTransaction]) throws(OrderingError)
    /// The next batch; waits for work. Nil once closed and drained.
    func nextBatch() async -> OrderedBatch?
    /// Stops accepting transactions; pending ones are still handed out.
    func close()
    /// Why `nextBatch` ended before `close` (the shared log can no longer be read from this
    /// node's position); nil if it did not.
    var failureDescription: String? { get }
    /// Blocks taken from peers to catch up past the shared log's compaction, and why the latest
    /// attempt failed while one is failing (an orderer without peers: 0, nil).
    var catchUpStatus: (blocks: UInt64, error: String?) { get }
    /// The node will not need the shared log up to `position` again (its batches are blocks a
    /// quorum attested, far enough behind): the orderer may discard the log there, so the
    /// log does not grow without end. A node that later needs it catches up from its peers.
    /// Throws only to report; nothing depends on it having worked.
    func retire(through position: Int64) async throws
    /// The node made `blocks` more of the batches handed out durable, the last at `position` in a
    /// shared log (nil: none). An orderer may use it to tell a busy node from an idle one.
    func committed(blocks: Int, through position: Int64?)
}

extension Orderer {
    public var failureDescription: String? { nil }
    public var catchUpStatus: (blocks: UInt64, error: String?) { (0, nil) }
    public func retire(through position: Int64) async throws {}
    public func committed(blocks: Int, through position: Int64?) {}
}
