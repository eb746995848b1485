import Contracts
import LedgerCore
import Storage

/// Replays the disk's blocks from genesis with the library's `ChainVerifier` (links, signatures,
/// Merkle roots, re-execution to the stored results and state roots), incrementally: each check
/// verifies only the blocks added since the last one, and starts over from genesis if the disk's
/// chain no longer extends what was verified (a torn block). Its replayed state is an
/// independent copy of the ledger state that the simulator compares the node against.
struct ReplayChecker {
    private(set) var verifier: ChainVerifier<ContractReplayer>
    /// Hash of each verified block, by height.
    private(set) var hashes: [Hash256] = []
    let chainId: String

    init(chainId: String) {
        self.chainId = chainId
        verifier = ChainVerifier(chainId: chainId, replayer: ContractReplayer(executor: .standard(chainId: chainId)))
    }

    /// State as replayed from genesis.
    var state: MemoryState { verifier.replayer.state }

    /// Every state key any verified block wrote, deleted ones too.
    var keysEverWritten: Dictionary<String, UInt64>.Keys { verifier.replayer.lastWriteHeight.keys }

    /// Height of the last verified block.
    var height: UInt64? { hashes.isEmpty ? nil : UInt64(hashes.count - 1) }

    /// Verifies the blocks the disk gained; throws a `SimulationFailure` naming the first bad one.
    mutating func sync(with disk: InMemoryLedgerStore) throws(SimulationFailure) {
        let head: BlockHeader
        do {
            guard let stored = try disk.head() else { throw SimulationFailure("the disk has no genesis block") }
            head = stored
        } catch let failure as SimulationFailure { throw failure } catch { throw SimulationFailure("reading the disk's head: \(error)") }
        // A chain that no longer extends what was verified (its head moved back): start over.
        if let verified = height, head.height < verified || (try? disk.header(height: verified))?.hash != hashes[Int(verified)] {
            self = ReplayChecker(chainId: chainId)
        }
        let start = height.map { $0 + 1 } ?? 0
        guard start <= head.height else { return }
        for h in start...head.height {
            do {
                guard let raw = try disk.rawBlock(height: h) else { throw SimulationFailure("block \(h) is missing from the disk") }
                let verified = try verifier.verify(raw)
                hashes.append(verified.hash)
            } catch let failure as SimulationFailure {
                throw failure
            } catch {
                throw SimulationFailure("replaying the chain from genesis failed at \(error)")
            }
        }
    }
}

/// An invariant the simulation found broken; the message says which and where.
struct SimulationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
