import Foundation
import LedgerCore
import Testing

/// Which seeds run. CI runs `ciSeeds` fixed seeds; a campaign runs more:
///
///     CARELEDGER_SIM_SEED=1234 swift test --filter SimulationTests     # replay one seed
///     CARELEDGER_SIM_SEEDS=500 swift test --filter SimulationTests     # seeds 1…500
///     CARELEDGER_SIM_SEEDS=500 CARELEDGER_SIM_SEED_BASE=10001 swift test --filter SimulationTests
///
/// `CARELEDGER_SIM_TRACE=1` prints every step of every run.
enum SimulationCampaign {
    static let ciSeeds = 20
    static let rounds = 40

    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["CARELEDGER_SIM_SEED"].flatMap({ UInt64($0) }) { return [one] }
        let count = environment["CARELEDGER_SIM_SEEDS"].flatMap { Int($0) } ?? ciSeeds
        let base = environment["CARELEDGER_SIM_SEED_BASE"].flatMap { UInt64($0) } ?? 1
        return (0..<UInt64(max(0, count))).map { base + $0 }
    }

    /// The one line that replays a seed.
    static func replayLine(_ seed: UInt64) -> String { "CARELEDGER_SIM_SEED=\(seed) swift test --filter SimulationTests" }

    /// Runs one seed; on failure prints what broke, the end of the run's trace and the replay line.
    static func run(_ seed: UInt64) async throws -> Simulator? {
        let simulator = try await Simulator(seed: seed)
        defer {
            if ProcessInfo.processInfo.environment["CARELEDGER_SIM_TRACE"] == "1" {
                print("trace of seed \(seed):\n" + simulator.trace.joined(separator: "\n"))
            }
        }
        do {
            try await simulator.run(rounds: rounds)
            return simulator
        } catch {
            print("""
                ✗ simulation seed \(seed) failed: \(error)
                  last steps:
                \(simulator.trace.suffix(30).map { "    " + $0 }.joined(separator: "\n"))
                  replay: \(replayLine(seed))
                """)
            Issue.record("seed \(seed): \(error) — replay: \(replayLine(seed))")
            return nil
        }
    }
}

/// One node in a seeded simulation: random transactions of every contract, record reads through
/// the access service, storage, crash and clock faults; every invariant checked after every round.
///
/// Serialized: each run is CPU-bound work on the cooperative pool; running one seed at a time
/// leaves the other threads to the rest of the test suite.
@Suite("Deterministic simulation of one node", .serialized)
struct SimulationTests {
    @Test(.timeLimit(.minutes(10)), arguments: SimulationCampaign.seeds)
    func seed(_ seed: UInt64) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        guard let simulator = try await SimulationCampaign.run(seed) else { return }
        let seconds = Double((clock.now - start) / .milliseconds(1)) / 1_000
        print("✓ simulation seed \(seed): \(simulator.stats) in \(String(format: "%.2f", seconds)) s")
    }

    /// A seed replays the same run (as far as the node allows: see `Simulator`), and a
    /// run exercises every contract.
    @Test(.timeLimit(.minutes(5)))
    func aSeedReplaysTheSameRun() async throws {
        let seed: UInt64 = 7
        guard let first = try await SimulationCampaign.run(seed), let second = try await SimulationCampaign.run(seed) else { return }
        #expect(first.trace == second.trace, "seed \(seed) took different paths; first difference at line \(first.trace.indices.first { $0 >= second.trace.count || first.trace[$0] != second.trace[$0] } ?? min(first.trace.count, second.trace.count))")
        let contracts = ["anchor", "membership", "records", "consent", "claims", "supply", "rx", "trials", "telehealth", "audit"]
        let unexercised = contracts.filter { (first.stats.acceptedByContract[$0] ?? 0) == 0 }
        #expect(unexercised.isEmpty, "no accepted transaction of \(unexercised) in seed \(seed)")
        #expect(first.stats.released > 0, "no record was released in seed \(seed)")
    }
}
