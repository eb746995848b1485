/// A block exactly as stored or received: raw bytes that have not been checked yet.
public struct RawBlock: Sendable, Equatable {
    public let headerBytes: [UInt8]
    public let signature: [UInt8]
    public let transactionBytes: [[UInt8]]
    public let resultBytes: [[UInt8]]

    public init(headerBytes: [UInt8], signature: [UInt8], transactionBytes: [[UInt8]], resultBytes: [[UInt8]]) {
        (self.headerBytes, self.signature, self.transactionBytes, self.resultBytes) = (headerBytes, signature, transactionBytes, resultBytes)
    }

    /// The raw form of a block.
    public init(_ block: Block) {
        self.init(headerBytes: block.header.encoded, signature: block.signature,
                  transactionBytes: block.transactions.map(\.bytes), resultBytes: block.results.map(\.encoded))
    }
}

/// Re-executes blocks for the verifier; implemented over the contracts (which LedgerCore cannot see).
public protocol BlockReplayer {
    /// Whether `key` may sign the block at `height`. Called before replay, except for genesis,
    /// whose own transactions name the first orderers (so it is asked after).
    func isAuthorizedOrderer(_ key: SigningPublicKey, height: UInt64) -> Bool
    /// Executes the block's transactions against the replayer's state and applies the writes.
    mutating func replay(header: BlockHeader, transactions: [VerifiedTransaction]) -> (results: [TransactionResult], writeSet: WriteSet)
}

/// A block that passed every check of `ChainVerifier`; only the verifier builds one.
public struct VerifiedBlock: Sendable {
    public let block: Block
    public let hash: Hash256
    fileprivate init(block: Block) {
        self.block = block
        self.hash = block.hash
    }
}

/// Why a chain failed verification, naming the first bad height and, when it applies, transaction.
public struct ChainVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed. Stable codes: tests assert on them.
    public enum Reason: String, Sendable, Equatable {
        case malformedHeader, chainIdMismatch, heightGap, previousHashMismatch, timeNotIncreasing
        case badBlockSignature, unauthorizedOrderer, transactionCountMismatch, malformedTransaction
        case badTransactionSignature, transactionChainIdMismatch, transactionsRootMismatch
        case logSizeMismatch, logRootMismatch, malformedResult, resultMismatch, resultsRootMismatch
        case stateRootMismatch, storeMismatch
    }

    public let reason: Reason
    public let height: UInt64
    public let transactionIndex: Int?
    public let transactionID: Hash256?
    public let detail: String

    public init(_ reason: Reason, height: UInt64, transactionIndex: Int? = nil, transactionID: Hash256? = nil, detail: String) {
        (self.reason, self.height, self.transactionIndex, self.transactionID, self.detail) =
            (reason, height, transactionIndex, transactionID, detail)
    }

    public var description: String {
        var text = "block \(height)"
        if let transactionIndex { text += ", transaction #\(transactionIndex)" }
        if let transactionID { text += " (\(transactionID.hex))" }
        return text + ": \(reason.rawValue): \(detail)"
    }
}

/// Re-verifies a chain block by block: hash links, time, orderer signatures and authority,
/// transaction encodings and signatures, transaction/log/results Merkle roots, and (by re-execution)
/// every result and state root. Pure: feed it raw blocks in order.
public struct ChainVerifier<Replayer: BlockReplayer> {
    public let chainId: String
    public private(set) var replayer: Replayer
    /// The transaction log as rebuilt from the verified blocks.
    public private(set) var log = MerkleFrontier()
    /// Header of the last verified block.
    public private(set) var lastHeader: BlockHeader?
    private var lastHash = Hash256.zero
    private var stateRoot = Hash256.zero

    public init(chainId: String, replayer: Replayer) { (self.chainId, self.replayer) = (chainId, replayer) }

    /// Verifies the blocks after `base` (a checkpoint a snapshot gave: its header, and the log up to
    /// it), with `replayer` holding the state at that height.
    public init(chainId: String, replayer: Replayer, resumingAfter base: BlockHeader, log: MerkleFrontier) {
        precondition(log.size == base.logSize && log.root == base.logRoot, "the log must be the base block's")
        (self.chainId, self.replayer, self.log, self.lastHeader, self.lastHash, self.stateRoot) = (chainId, replayer, log, base, base.hash, base.stateRoot)
    }

    /// Verifies the next block; throws the first failure found in it.
    public mutating func verify(_ raw: RawBlock) throws(ChainVerificationError) -> VerifiedBlock {
        let expectedHeight = lastHeader.map { $0.height + 1 } ?? 0
        let header: BlockHeader
        do { header = try BlockHeader(decoding: raw.headerBytes) } catch {
            throw ChainVerificationError(.malformedHeader, height: expectedHeight, detail: "\(error)")
        }
        let h = header.height
        func fail(_ reason: ChainVerificationError.Reason, _ detail: String, tx: Int? = nil, id: Hash256? = nil) -> ChainVerificationError {
            ChainVerificationError(reason, height: h, transactionIndex: tx, transactionID: id, detail: detail)
        }
        guard header.chainId == chainId else { throw fail(.chainIdMismatch, "header names chain \(header.chainId)") }
        guard h == expectedHeight else { throw fail(.heightGap, "expected height \(expectedHeight)") }
        guard header.previousHash == lastHash else {
            throw fail(.previousHashMismatch, "previous hash \(header.previousHash.hex) is not \(lastHash.hex)")
        }
        if let lastHeader, header.timeMs <= lastHeader.timeMs {
            throw fail(.timeNotIncreasing, "time \(header.timeMs) ms is not after \(lastHeader.timeMs) ms")
        }
        guard header.ordererKey.isValidSignature(raw.signature, for: header.signedMessage) else {
            throw fail(.badBlockSignature, "orderer signature does not verify")
        }
        if h > 0, !replayer.isAuthorizedOrderer(header.ordererKey, height: h) {
            throw fail(.unauthorizedOrderer, "block signed by a key that is not an authorized orderer")
        }
        guard raw.transactionBytes.count == Int(header.transactionCount), raw.resultBytes.count == raw.transactionBytes.count else {
            throw fail(.transactionCountMismatch,
                       "header says \(header.transactionCount) transactions; stored \(raw.transactionBytes.count) with \(raw.resultBytes.count) results")
        }

        var transactions: [Transaction] = []
        var verified: [VerifiedTransaction] = []
        transactions.reserveCapacity(raw.transactionBytes.count)
        verified.reserveCapacity(raw.transactionBytes.count)
        for (index, bytes) in raw.transactionBytes.enumerated() {
            let tx: Transaction
            do { tx = try Transaction(decoding: bytes) } catch {
                throw fail(.malformedTransaction, "\(error)", tx: index)
            }
            guard tx.body.chainId == chainId else {
                throw fail(.transactionChainIdMismatch, "transaction is for chain \(tx.body.chainId)", tx: index, id: tx.id)
            }
            let checked: VerifiedTransaction
            do { checked = try VerifiedTransaction.verify(tx) } catch {
                throw fail(.badTransactionSignature, "\(error)", tx: index, id: tx.id)
            }
            transactions.append(tx)
            verified.append(checked)
        }
        let ids = transactions.map(\.id)
        guard Block.transactionsRoot(ids) == header.transactionsRoot else {
            throw fail(.transactionsRootMismatch, "transactions do not hash to the header's root")
        }
        var log = self.log
        for tx in transactions { log.append(leafHash: MerkleHashing.leafHash(tx.bytes)) }
        guard log.size == header.logSize else { throw fail(.logSizeMismatch, "log size would be \(log.size), header says \(header.logSize)") }
        guard log.root == header.logRoot else { throw fail(.logRootMismatch, "log root \(log.root.hex) differs from the header") }

        var results: [TransactionResult] = []
        results.reserveCapacity(raw.resultBytes.count)
        for (index, bytes) in raw.resultBytes.enumerated() {
            do { results.append(try TransactionResult(decoding: bytes)) } catch {
                throw fail(.malformedResult, "\(error)", tx: index, id: ids[index])
            }
        }
        guard TransactionResult.root(results, transactionIDs: ids) == header.resultsRoot else {
            throw fail(.resultsRootMismatch, "stored results do not hash to the header's root")
        }

        let replay = replayer.replay(header: header, transactions: verified)
        precondition(replay.results.count == results.count, "replayer returns one result per transaction")
        for index in results.indices where replay.results[index] != results[index] {
            throw fail(.resultMismatch,
                       "stored result \(results[index].code) “\(results[index].message)”, re-execution gives \(replay.results[index].code) “\(replay.results[index].message)”",
                       tx: index, id: ids[index])
        }
        let newStateRoot = replay.writeSet.stateRoot(after: stateRoot)
        guard newStateRoot == header.stateRoot else {
            throw fail(.stateRootMismatch, "re-execution gives state root \(newStateRoot.hex), header says \(header.stateRoot.hex)")
        }
        if h == 0, !replayer.isAuthorizedOrderer(header.ordererKey, height: 0) {
            throw fail(.unauthorizedOrderer, "genesis is signed by a key it does not name as orderer")
        }

        self.log = log
        stateRoot = newStateRoot
        lastHeader = header
        lastHash = header.hash
        return VerifiedBlock(block: Block(header: header, signature: raw.signature, transactions: transactions, results: results))
    }
}
