import Dispatch
import LedgerCore
import Storage
import Synchronization

/// Saves attestations and the final height off the node's actor. A save waits for the store's
/// writer, which a block write holds through its fsync; on the actor that wait stopped admission,
/// and (the actor's thread being one of the cooperative pool's) every other task of the process.
/// Saves run in order on a thread of their own; what piles up meanwhile goes in one write.
/// `saved` hears the highest final height of each write once it is in the store (so a final
/// height is never visible before the attestations behind it are stored), `failed` the first
/// error (nothing is saved after it).
final class AttestationSaver: Sendable {
    private struct Pending {
        var attestations: [Attestation] = []
        var finalHeight: UInt64?
        var writing = false
        var failed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let store: any AttestationStore
    private let state = Mutex(Pending())
    private let queue = DispatchQueue(label: "careledger.attestations", qos: .userInitiated)
    private let saved: @Sendable (UInt64?) -> Void
    private let failed: @Sendable (String) -> Void

    init(store: any AttestationStore, saved: @escaping @Sendable (UInt64?) -> Void, failed: @escaping @Sendable (String) -> Void) {
        (self.store, self.saved, self.failed) = (store, saved, failed)
    }

    /// Queues `attestations` and a new final height (nil: none) for the next write.
    func save(_ attestations: [Attestation], finalHeight: UInt64?) {
        let start = state.withLock { p -> Bool in
            guard !p.failed else { return false }
            p.attestations += attestations
            if let finalHeight { p.finalHeight = max(p.finalHeight ?? 0, finalHeight) }
            guard !p.writing else { return false }
            p.writing = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    /// Returns once everything queued so far is written (or the saver failed).
    func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { p -> Bool in
                guard p.writing else { return true }
                p.idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private enum Next {
        case write([Attestation], finalHeight: UInt64?)
        case idle(waiters: [CheckedContinuation<Void, Never>])
    }

    private func drain() {
        while true {
            let next = state.withLock { p -> Next in
                let taken = (p.attestations, p.finalHeight)
                (p.attestations, p.finalHeight) = ([], nil)
                if !p.failed, !taken.0.isEmpty || taken.1 != nil { return .write(taken.0, finalHeight: taken.1) }
                p.writing = false
                defer { p.idleWaiters = [] }
                return .idle(waiters: p.idleWaiters)
            }
            switch next {
            case .idle(let waiters):
                for waiter in waiters { waiter.resume() }
                return
            case .write(let attestations, let finalHeight):
                do {
                    try store.saveAttestations(attestations, finalHeight: finalHeight)
                    saved(finalHeight)
                } catch {
                    state.withLock { $0.failed = true }
                    failed("could not store attestations: \(error)")
                }
            }
        }
    }
}
