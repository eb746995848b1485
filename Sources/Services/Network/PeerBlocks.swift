import Contracts
import Foundation
public import LedgerCore
public import Node
import NIOCore
public import Ordering
public import Storage

/// Blocks between the nodes of a consortium, for a node whose place in etcd's log was compacted
/// away: what a node answers another organization's node (`GET /v1/blocks?from=`), the checks a
/// node makes on what a peer gives it, and the peer source its orderer catches up from.
public enum PeerBlockService {
    /// Most blocks in one answer.
    public static let blocksMax = 256
    /// Most bytes of transactions in one answer (at least one block is always given).
    public static let answerBytesMax = 32 * 1024 * 1024

    /// The committed blocks from `from` on (at most `limit`, 1…256, and about 32 MiB of transactions)
    /// for an authenticated organization's
    /// node: each block's header and transactions as canonical bytes, and this node's ordering
    /// position when the last one is its head. Blocks carry what every node holds (private calls are
    /// envelopes), so any active organization of the chain may ask.
    public static func serve(_ request: PeerRequest, from: UInt64, limit: Int, node: LedgerNode, nowMs: Int64) throws(ServiceError) -> JSONObject {
        _ = try PrivatePayloads.authenticate(request, resource: PeerRequest.blocks(from: from), node: node, nowMs: nowMs)
        guard (1...blocksMax).contains(limit) else { throw ServiceError("limit is 1…\(blocksMax)") }
        guard from >= 1 else { throw ServiceError("from is a height of 1 or more (every node holds the genesis block)") }
        do {
            guard let head = try node.store.head() else { throw ServiceError(.unavailable, "this node's store has no blocks") }
            let position = try node.store.orderingPosition()
            var blocks: [JSONObject] = []
            var height = from
            var bytes = 0
            while height <= head.height, blocks.count < limit, bytes < answerBytesMax, let raw = try node.store.rawBlock(height: height) {
                blocks.append(["height": height, "header": Base64.encode(raw.headerBytes), "transactions": raw.transactionBytes.map(Base64.encode)])
                bytes += raw.transactionBytes.reduce(0) { $0 + $1.count }
                height += 1
            }
            var answer: JSONObject = ["blocks": blocks, "head": head.height,
                                      "attestations": try attestations(below: height, from: from, node: node).map { Base64.encode($0.encoded) }]
            if height > head.height, let position { answer["position"] = position }
            return answer
        } catch let error as ServiceError {
            throw error
        } catch {
            throw ServiceError(.unavailable, "the store could not be read: \(error)")
        }
    }

    /// The attestations this node holds for the highest of heights `from..<end` that a quorum
    /// attested (and for the heights above it that have any), so the asking node can check the
    /// blocks without etcd's copy, which the log's retirement deletes. Each is signed: the asking
    /// node verifies them with the organizations' keys as it would etcd's.
    public static func attestations(below end: UInt64, from: UInt64, node: LedgerNode) throws -> [Attestation] {
        guard let store = node.store as? any AttestationStore, end > from else { return [] }
        let quorum = try Genesis.finalityQuorum(in: node.store)
        var found: [Attestation] = []
        for height in (from..<end).reversed() {
            let here = try store.attestations(height: height)
            found += here
            if Set(here.map(\.attester)).count >= quorum || found.count >= attestationsMax { break }
        }
        return found
    }

    /// Most attestations in one answer.
    public static let attestationsMax = 4_096

    /// Why a peer's blocks were refused.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks blocks a peer gave for after `head`: consecutive heights, each header on this chain and
    /// linked by hash to the one before (the first to `head`), each block's transactions exactly the
    /// ones its header commits to. Then it keeps them up to the last block that a quorum of active
    /// organizations attested with the header's values (`attestations(height)`, each verified with the
    /// organization's key from `organizationKey`); the attested block fixes every block before it.
    /// Answers how many blocks to take; refuses if none is attested or anything does not check.
    public static func check(_ blocks: [PeerBlock], after head: BlockHeader, quorum: Int,
                             organizationKey: (IdentityID) -> SigningPublicKey?,
                             attestations: (UInt64) async throws -> [Attestation]) async throws -> Int {
        var previous = head
        for block in blocks {
            let header = block.header
            guard header.chainId == head.chainId else { throw Refusal("the peer's block \(header.height) is for chain \(header.chainId)") }
            guard header.height == previous.height + 1 else {
                throw Refusal("the peer gave block \(header.height) after block \(previous.height)")
            }
            guard header.previousHash == previous.hash else {
                throw Refusal("the peer's block \(header.height) does not follow block \(previous.height) (\(previous.hash.hex))")
            }
            guard Int(header.transactionCount) == block.transactions.count,
                  Block.transactionsRoot(block.transactions.map(\.id)) == header.transactionsRoot else {
                throw Refusal("the peer's block \(header.height) does not hold the transactions its header commits to")
            }
            previous = header
        }
        for index in blocks.indices.reversed() {
            let header = blocks[index].header
            let values = Attestation.Values(header)
            var attesters: Set<IdentityID> = []
            for attestation in try await attestations(header.height) where attestation.chainId == head.chainId && attestation.height == header.height
                && attestation.values == values {
                guard let key = organizationKey(attestation.attester), attestation.isSigned(by: key) else { continue }
                attesters.insert(attestation.attester)
            }
            if attesters.count >= quorum { return index + 1 }
        }
        throw Refusal("none of the peer's blocks \(blocks.first?.header.height ?? 0)…\(previous.height) is attested by \(quorum) organizations yet")
    }
}

/// Catches a node up from the other organizations' nodes (`PeerDirectory`), asking each in turn,
/// and checking what comes back (`PeerBlockService.check`) before the orderer hands it to the node.
public final class PeerBlockFetcher: PeerBlockSource {
    private let directory: PeerDirectory
    private let board: EtcdAttestationBoard
    private let store: any LedgerStore
    /// The organization keys the node's replica knows (attestations are checked with them).
    private let organizationKey: @Sendable (IdentityID) -> SigningPublicKey?

    public init(directory: PeerDirectory, board: EtcdAttestationBoard, store: any LedgerStore,
                organizationKey: @escaping @Sendable (IdentityID) -> SigningPublicKey?) {
        (self.directory, self.board, self.store, self.organizationKey) = (directory, board, store, organizationKey)
    }

    public func blocks(after head: BlockHeader, limit: Int) async throws -> PeerBlocks {
        let quorum = try Genesis.finalityQuorum(in: store)
        let peers = try await directory.others()
        var reasons: [String] = []
        for organization in peers.shuffled() {
            do {
                let fetched = try await fetch(from: organization, after: head, limit: limit)
                // The peer's attestations, and etcd's for a height they do not make final (the log's
                // retirement deletes etcd's older ones). Either way each is verified with its attester's key.
                let given = Dictionary(grouping: fetched.attestations, by: \.height)
                let taken = try await PeerBlockService.check(fetched.blocks, after: head, quorum: quorum, organizationKey: organizationKey) { height in
                    let mine = given[height] ?? []
                    if Set(mine.map(\.attester)).count >= quorum { return mine }
                    return mine + (try await self.board.attestations(height: height))
                }
                return PeerBlocks(blocks: Array(fetched.blocks.prefix(taken)), position: taken == fetched.blocks.count ? fetched.position : nil)
            } catch {
                reasons.append("organization \(organization.hex.prefix(12))…: \(error)")
            }
        }
        throw PeerBlockService.Refusal(peers.isEmpty ? "no peer is registered in etcd" : "no peer gave blocks: " + reasons.joined(separator: "; "))
    }

    private func fetch(from organization: IdentityID, after head: BlockHeader, limit: Int) async throws -> PeerBlocks {
        let from = head.height + 1
        let (status, body) = try await directory.get("/v1/blocks?from=\(from)&limit=\(limit)", resource: PeerRequest.blocks(from: from),
                                                     from: organization, timeout: .seconds(30), bodyLimit: 256 * 1024 * 1024)
        guard status == 200 else { throw PeerBlockService.Refusal("answered \(status): \(String(buffer: body).prefix(200))") }
        guard let object = try JSONSerialization.jsonObject(with: Data(Array(buffer: body))) as? [String: Any], let list = object["blocks"] as? [[String: Any]] else {
            throw PeerBlockService.Refusal("the answer is not a list of blocks")
        }
        var blocks: [PeerBlock] = []
        for item in list {
            guard let headerBytes = (item["header"] as? String).flatMap(Base64.decode), let header = try? BlockHeader(decoding: headerBytes),
                  let encoded = item["transactions"] as? [String] else { throw PeerBlockService.Refusal("a block in the answer does not decode") }
            var transactions: [Transaction] = []
            for text in encoded {
                guard let bytes = Base64.decode(text), let tx = try? Transaction(decoding: bytes) else {
                    throw PeerBlockService.Refusal("a transaction of block \(header.height) does not decode")
                }
                transactions.append(tx)
            }
            blocks.append(PeerBlock(header: header, transactions: transactions))
        }
        let attestations = (object["attestations"] as? [String] ?? []).prefix(PeerBlockService.attestationsMax).compactMap {
            Base64.decode($0).flatMap { try? Attestation(decoding: $0) }
        }
        return PeerBlocks(blocks: blocks, position: (object["position"] as? NSNumber)?.int64Value, attestations: Array(attestations))
    }
}
