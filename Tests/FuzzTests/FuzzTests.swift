import Foundation
import Testing

/// The libFuzzer targets (`Fuzz/run`; docs/security.md, "Fuzzing"), each built and run for 20 seconds from
/// its committed seeds: the canonical decoder, the FHIR JSON parser, the FHIR search-query parser and the
/// token endpoint's parsing. A crash, a failed invariant, an ASan report or a timeout fails the test, and the
/// input is left in `.build/fuzz/test/crashes/TARGET/` (replay it with `.build/fuzz/TARGET FILE`). Skipped, with
/// the reason, where the toolchain cannot build fuzzers (no libFuzzer runtime, as on macOS).
@Suite("Fuzzing: a short libFuzzer run of every target")
struct FuzzTests {
    /// The package root: two levels above this file's folder.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let targets = ["canonical", "json", "search", "token"]

    /// Runs `Fuzz/run` with `arguments`: its exit status and what it printed.
    static func fuzz(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-fuzz-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // At low priority: the other suites run beside it and some have time limits; the runs are bounded in time.
        process.arguments = ["nice", "-n", "10", "bash", packageRoot.appendingPathComponent("Fuzz/run").path] + arguments
        process.currentDirectoryURL = packageRoot
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// Why fuzzers cannot be built here, or nil when they can (`Fuzz/run --check`).
    static let unavailable: String? = {
        guard let (status, output) = try? fuzz(["--check"]) else { return "Fuzz/run could not be started" }
        return status == 0 ? nil : output.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    /// The debug build this test binary belongs to, whose modules and objects the fuzzers link.
    static var buildDirectory: String? {
        guard let directory = Bundle.main.executableURL?.deletingLastPathComponent(),
              FileManager.default.fileExists(atPath: directory.appendingPathComponent("Modules").path) else { return nil }
        return directory.path
    }

    @Test(.enabled(if: unavailable == nil, Comment(rawValue: "cannot build fuzzers: \(unavailable ?? "")")), .timeLimit(.minutes(10)))
    func everyTargetRunsWithoutACrash() async throws {
        let work = Self.packageRoot.appendingPathComponent(".build/fuzz/test").path
        let arguments = ["--short", "--work", work] + (Self.buildDirectory.map { ["--bin", $0] } ?? [])
        // Minutes of waiting on a child process: on a thread of its own, not one of the few the other suites' tasks run on.
        let (status, output) = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try Self.fuzz(arguments) }) }
        }
        #expect(status == 0, "Fuzz/run --short failed:\n\(output)")
        for target in Self.targets {
            let line = output.split(separator: "\n").first { $0.hasPrefix("fuzz \(target): ") }
            let inputs = line.flatMap { Int($0.dropFirst("fuzz \(target): ".count).prefix { $0.isNumber }) } ?? 0
            #expect(line?.hasSuffix("no crash") == true && inputs > 0, "\(target): \(line.map(String.init) ?? "no summary line")\n\(output)")
        }
    }
}
