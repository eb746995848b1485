import LedgerCore
import Testing

/// Accepts every transaction with no state writes; trusts one orderer key.
struct TrivialReplayer: BlockReplayer {
    let orderer: SigningPublicKey
    func isAuthorizedOrderer(_ key: SigningPublicKey, height: UInt64) -> Bool { key == orderer }
    mutating func replay(header: BlockHeader, transactions: [VerifiedTransaction]) -> (results: [TransactionResult], writeSet: WriteSet) {
        (transactions.map { _ in .accepted }, WriteSet([:]))
    }
}

@Suite("ChainVerifier")
struct ChainVerifierTests {
    static let orderer = IdentityKeys(seed: Array(repeating: 31, count: 32))
    static let sender = IdentityKeys(seed: Array(repeating: 32, count: 32))

    /// Three blocks of two transactions each, built as the node builds them.
    static func chain() -> [RawBlock] {
        var frontier = MerkleFrontier()
        var previous: BlockHeader?
        var blocks: [RawBlock] = []
        var sequence: UInt64 = 0
        for height in 0..<3 {
            let txs = (0..<2).map { _ -> Transaction in
                sequence += 1
                return Transaction.sign(TransactionBody(chainId: "c", sender: sender.derivedID, publicKey: sender.signingPublicKey,
                                                        sequence: sequence, contract: "test-contract", method: "test-method", args: .int(Int64(sequence))), with: sender)
            }
            for tx in txs { frontier.append(leafHash: MerkleHashing.leafHash(tx.bytes)) }
            let results = txs.map { _ in TransactionResult.accepted }
            let header = BlockHeader(chainId: "c", height: UInt64(height), previousHash: previous?.hash ?? .zero, timeMs: 1_000 + Int64(height),
                                     transactionCount: 2, transactionsRoot: Block.transactionsRoot(txs.map(\.id)), logSize: frontier.size,
                                     logRoot: frontier.root, resultsRoot: TransactionResult.root(results, transactionIDs: txs.map(\.id)),
                                     stateRoot: WriteSet([:]).stateRoot(after: previous?.stateRoot ?? .zero), ordererKey: orderer.signingPublicKey)
            blocks.append(RawBlock(Block.seal(header: header, transactions: txs, results: results, ordererKeys: orderer)))
            previous = header
        }
        return blocks
    }

    static func verify(_ blocks: [RawBlock]) -> ChainVerificationError? {
        var verifier = ChainVerifier(chainId: "c", replayer: TrivialReplayer(orderer: orderer.signingPublicKey))
        for block in blocks {
            do { _ = try verifier.verify(block) } catch { return error }
        }
        return nil
    }

    @Test func validChainVerifies() {
        #expect(Self.verify(Self.chain()) == nil)
    }

    static func replacing(_ block: RawBlock, header: [UInt8]? = nil, signature: [UInt8]? = nil,
                          transactions: [[UInt8]]? = nil, results: [[UInt8]]? = nil) -> RawBlock {
        RawBlock(headerBytes: header ?? block.headerBytes, signature: signature ?? block.signature,
                 transactionBytes: transactions ?? block.transactionBytes, resultBytes: results ?? block.resultBytes)
    }

    @Test func tamperingIsNamed() throws {
        let blocks = Self.chain()
        var header = blocks[1].headerBytes
        header[header.count - 40] ^= 1
        var chain = blocks
        chain[1] = Self.replacing(blocks[1], header: header)
        #expect(Self.verify(chain)?.reason == .badBlockSignature)
        #expect(Self.verify(chain)?.height == 1)

        chain = blocks
        chain[2] = Self.replacing(blocks[2], transactions: blocks[2].transactionBytes.reversed())
        #expect(Self.verify(chain)?.reason == .transactionsRootMismatch)
        #expect(Self.verify(chain)?.height == 2)

        chain = blocks
        chain[1] = Self.replacing(blocks[1], results: [TransactionResult(code: 9, message: "x").encoded, blocks[1].resultBytes[1]])
        #expect(Self.verify(chain)?.reason == .resultsRootMismatch)

        // A re-signed block with a wrong previous hash or a time that goes backwards.
        var bad = try BlockHeader(decoding: blocks[2].headerBytes)
        bad.previousHash = .sha256([9])
        chain = blocks
        chain[2] = Self.replacing(blocks[2], header: bad.encoded, signature: Self.orderer.sign(bad.signedMessage))
        #expect(Self.verify(chain)?.reason == .previousHashMismatch)
        var early = try BlockHeader(decoding: blocks[2].headerBytes)
        early.timeMs = 1_000
        chain = blocks
        chain[2] = Self.replacing(blocks[2], header: early.encoded, signature: Self.orderer.sign(early.signedMessage))
        #expect(Self.verify(chain)?.reason == .timeNotIncreasing)

        // Signed by a key that is not an orderer.
        let intruder = IdentityKeys(seed: Array(repeating: 33, count: 32))
        var stolen = try BlockHeader(decoding: blocks[1].headerBytes)
        stolen.ordererKey = intruder.signingPublicKey
        chain = blocks
        chain[1] = Self.replacing(blocks[1], header: stolen.encoded, signature: intruder.sign(stolen.signedMessage))
        #expect(Self.verify(chain)?.reason == .unauthorizedOrderer)

        var tx = blocks[0].transactionBytes[1]
        tx[20] ^= 1
        chain = blocks
        chain[0] = Self.replacing(blocks[0], transactions: [blocks[0].transactionBytes[0], tx])
        let error = try #require(Self.verify(chain))
        #expect([.badTransactionSignature, .malformedTransaction].contains(error.reason))
        #expect(error.height == 0 && error.transactionIndex == 1)
    }
}
