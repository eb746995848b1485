import LedgerCore

/// The faults the simulator injects, at most one per round (TigerBeetle's VOPR injects storage,
/// crash and clock faults the same way: drawn from the seed, so a failing run replays).
enum Fault: Equatable, CustomStringConvertible {
    case none
    /// The next block write fails (a full disk): the node must stop with a typed error and
    /// acknowledge nothing of that block; the operator frees space and restarts it.
    case writeFails
    /// The process dies while writing a block, before or after the block reached the disk; a
    /// block that reached the disk may still be torn away at restart (it was never acknowledged).
    case crashDuringWrite(persisted: Bool, torn: Bool)
    /// The process dies with transactions admitted but not yet ordered into a block.
    case crashBeforeCut
    /// The process dies while idle.
    case crashAtRest
    /// The node is stopped cleanly and reopened.
    case cleanRestart
    /// State reads fail for the round: nothing decided over a failed read may take effect.
    case stateReadsFail
    /// The vault refuses record writes for the round.
    case vaultWritesFail
    /// The audit log refuses appends for the round: no record content may be released.
    case auditFails
    /// The wall clock stands still for the round (the monotonic clock runs on).
    case wallClockStalls
    /// The wall clock steps by `ms`, forwards or backwards.
    case wallClockJumps(ms: Int64)

    /// Percentage of rounds with a fault.
    static let faultPercent = 35

    static func draw(_ rng: inout SplitMix64) -> Fault {
        guard rng.chance(faultPercent) else { return .none }
        switch rng.below(11) {
        case 0: return .writeFails
        case 1: return .crashDuringWrite(persisted: false, torn: false)
        case 2: return .crashDuringWrite(persisted: true, torn: rng.chance(50))
        case 3: return .crashBeforeCut
        case 4: return .crashAtRest
        case 5: return .cleanRestart
        case 6: return .stateReadsFail
        case 7: return .vaultWritesFail
        case 8: return .auditFails
        case 9: return .wallClockStalls
        default:
            return .wallClockJumps(ms: rng.chance(50) ? Int64(rng.within(1...30)) * Cast.dayMs : -Int64(rng.within(1...7_200)) * 1_000)
        }
    }

    /// The block-write fault to arm before the round's submissions.
    var commitFault: CommitFault? {
        switch self {
        case .writeFails: .fail
        case .crashDuringWrite(let persisted, _): .crash(persisted: persisted)
        default: nil
        }
    }

    /// Whether the fault may stop the node.
    var mayStopTheNode: Bool {
        switch self {
        case .writeFails, .crashDuringWrite, .stateReadsFail: true
        default: false
        }
    }

    var description: String {
        switch self {
        case .none: "no fault"
        case .writeFails: "a block write fails"
        case .crashDuringWrite(let persisted, let torn):
            "crash while writing a block (" + (persisted ? (torn ? "it reached the disk, then is torn away" : "it reached the disk") : "before it reached the disk") + ")"
        case .crashBeforeCut: "crash with admitted transactions not yet in a block"
        case .crashAtRest: "crash while idle"
        case .cleanRestart: "clean restart"
        case .stateReadsFail: "state reads fail"
        case .vaultWritesFail: "vault writes fail"
        case .auditFails: "audit appends fail"
        case .wallClockStalls: "the wall clock stalls"
        case .wallClockJumps(let ms): "the wall clock jumps \(ms > 0 ? "forward" : "back") \(abs(ms) / 1_000) s"
        }
    }
}
