import Contracts
import LedgerCore
import Node
import Ordering
import Services
import Storage
import Testing

/// What a node checks on blocks a peer gives it to catch up past etcd's compaction
/// (`PeerBlockService.check`): linked from its head, each block's transactions the ones its header
/// commits to, and taken only up to the last block a quorum of organizations attested. Each forged
/// answer is refused or cut short.
@Suite("Catch-up from a peer: forged blocks and attestations are refused")
struct PeerBlockCheckTests {
    static let chainId = "peer-blocks"
    static let sealing = IdentityKeys(seed: Array(repeating: 60, count: 32))
    static let organizations = [61, 62, 63].map { IdentityKeys(seed: Array(repeating: UInt8($0), count: 32)) }
    static let outsider = IdentityKeys(seed: Array(repeating: 64, count: 32))

    /// A chain of genesis and three blocks of anchors, as a peer holds it.
    struct Chain {
        let genesis: BlockHeader
        let blocks: [PeerBlock]
        let store: InMemoryLedgerStore
    }

    static func chain() throws -> Chain {
        let founders = organizations.enumerated().map { Founder(keys: $1, label: "org-\($0)", type: .hospital) }
        let (genesisBlock, genesis) = try Genesis.make(chainId: chainId, founders: founders, ordererKeys: sealing, timeMs: 1_000)
        let store = InMemoryLedgerStore()
        try store.commit(genesis)
        var writer = try DirectBlockWriter(store: store, ordererKeys: sealing)
        var blocks: [PeerBlock] = []
        for height in 1...3 {
            let keys = organizations[0]
            let call = AnchorContract.Put(digest: Hash256.sha256([UInt8(height)]), kind: "test")
            let tx = Transaction.sign(TransactionBody(chainId: chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                      sequence: UInt64(height + 1), call: call), with: keys)
            let committed = try writer.commit([try VerifiedTransaction.verify(tx)], timeMs: 1_000 + Int64(height) * 1_000)
            blocks.append(PeerBlock(header: committed.header, transactions: [tx]))
        }
        return Chain(genesis: genesisBlock.header, blocks: blocks, store: store)
    }

    static func key(_ id: IdentityID) -> SigningPublicKey? { organizations.first { $0.derivedID == id }?.signingPublicKey }

    /// One forged or honest answer: the blocks given, the attestations on the board, and what the check does.
    struct Row: CustomStringConvertible, Sendable {
        let description: String
        let blocks: @Sendable (Chain) -> [PeerBlock]
        let attestations: @Sendable (Chain, UInt64) -> [Attestation]
        /// Blocks taken, or nil for a refusal containing `refusal`.
        let taken: Int?
        var refusal = ""
    }

    static func attested(_ chain: Chain, _ height: UInt64, by signers: [IdentityKeys], at heights: Set<UInt64>) -> [Attestation] {
        guard heights.contains(height), let block = chain.blocks.first(where: { $0.header.height == height }) else { return [] }
        return signers.map { Attestation.sign(block.header, attester: $0) }
    }

    static let rows: [Row] = [
        Row(description: "honest: the last block attested by two of three", blocks: { $0.blocks },
            attestations: { attested($0, $1, by: Array(organizations.prefix(2)), at: [3]) }, taken: 3),
        Row(description: "the peer's head not attested yet: cut to the last attested block", blocks: { $0.blocks },
            attestations: { attested($0, $1, by: organizations, at: [2]) }, taken: 2),
        Row(description: "nothing attested", blocks: { $0.blocks }, attestations: { _, _ in [] }, taken: nil, refusal: "attested by 2"),
        Row(description: "attested by one organization, below the quorum", blocks: { $0.blocks },
            attestations: { attested($0, $1, by: [organizations[0]], at: [1, 2, 3]) }, taken: nil, refusal: "attested by 2"),
        Row(description: "attestations signed by a key no organization holds", blocks: { $0.blocks },
            attestations: { chain, height in
                attested(chain, height, by: [outsider], at: [3]).map {
                    Attestation(chainId: $0.chainId, height: $0.height, values: $0.values, attester: organizations[1].derivedID, signature: $0.signature)
                } + attested(chain, height, by: [organizations[0]], at: [3])
            }, taken: nil, refusal: "attested by 2"),
        Row(description: "attestations of other values (another state root)", blocks: { $0.blocks },
            attestations: { chain, height in
                guard height == 3 else { return [] }
                var header = chain.blocks[2].header
                header.stateRoot = Hash256.sha256([9])
                return organizations.map { Attestation.sign(header, attester: $0) }
            }, taken: nil, refusal: "attested by 2"),
        Row(description: "a block left out", blocks: { [$0.blocks[0], $0.blocks[2]] },
            attestations: { attested($0, $1, by: organizations, at: [1, 2, 3]) }, taken: nil, refusal: "gave block 3 after block 1"),
        Row(description: "a transaction swapped for another, validly signed one", blocks: { chain in
                var blocks = chain.blocks
                blocks[1] = PeerBlock(header: blocks[1].header, transactions: chain.blocks[0].transactions)
                return blocks
            }, attestations: { attested($0, $1, by: organizations, at: [3]) }, taken: nil, refusal: "does not hold the transactions"),
        Row(description: "a forged block (its header altered, re-linked)", blocks: { chain in
                var header = chain.blocks[2].header
                header.stateRoot = Hash256.sha256([7])
                return [chain.blocks[0], chain.blocks[1], PeerBlock(header: header, transactions: chain.blocks[2].transactions)]
            }, attestations: { attested($0, $1, by: organizations, at: [3]) }, taken: nil, refusal: "attested by 2"),
        Row(description: "blocks of another chain's history (not after this head)", blocks: { Array($0.blocks.dropFirst()) },
            attestations: { attested($0, $1, by: organizations, at: [3]) }, taken: nil, refusal: "gave block 2 after block 0"),
    ]

    /// etcd's attestations are retired with the log, so a peer's answer carries the ones it holds:
    /// for the highest height of the answer a quorum attested, and the heights above it. The asking
    /// node checks the blocks with those alone.
    @Test func aPeersAnswerCarriesTheAttestationsThatMakeItsBlocksCheckable() async throws {
        let chain = try Self.chain()
        let quorum = Array(Self.organizations.prefix(2)), one = [Self.organizations[2]]
        chain.store.saveAttestations(Self.attested(chain, 1, by: Self.organizations, at: [1]) + Self.attested(chain, 2, by: quorum, at: [2])
                                     + Self.attested(chain, 3, by: one, at: [3]), finalHeight: 2)
        let node = try await LedgerNode(store: chain.store, ordererKeys: Self.sealing)
        let given = try PeerBlockService.attestations(below: 4, from: 1, node: node)
        await node.stop()
        #expect(Set(given.map(\.height)) == [2, 3], "\(given.map(\.height))")
        let byHeight = Dictionary(grouping: given, by: \.height)
        let taken = try await PeerBlockService.check(chain.blocks, after: chain.genesis, quorum: 2, organizationKey: Self.key) { byHeight[$0] ?? [] }
        #expect(taken == 2)
    }

    @Test(arguments: rows)
    func check(_ row: Row) async throws {
        let chain = try Self.chain()
        let blocks = row.blocks(chain)
        do {
            let taken = try await PeerBlockService.check(blocks, after: chain.genesis, quorum: 2, organizationKey: Self.key) { height in
                row.attestations(chain, height)
            }
            #expect(taken == row.taken, "\(row)")
        } catch {
            #expect(row.taken == nil, "\(row): refused with \(error)")
            #expect("\(error)".contains(row.refusal), "\(row): \(error)")
        }
    }
}
