import Foundation
import LedgerCore
@testable import Server
import Testing

/// schemathesis (PyPI; .ci/run installs it into .build/careledger-pyenv) generates requests from
/// `/v1/openapi.json` — valid ones and ones that break the schema — and sends them with a valid
/// bearer token to a node served in-process. The checks: no 5xx, every status documented, every
/// Content-Type documented, every body matching its documented schema.
enum Schemathesis {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The CLI in the package's venv (`schemathesis`, or its short name `st`), if installed.
    static let executable: String? = ["schemathesis", "st"].map { packageRoot.appendingPathComponent(".build/careledger-pyenv/bin/\($0)").path }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    /// Generated cases per operation and phase; the coverage phase adds its own boundary cases.
    static let maxExamples = 8

    /// One worker: with two, schemathesis 4.32.5 on Python 3.11 imports modules from both threads and
    /// can fail with "AST constructor recursion depth mismatch" (a CPython 3.11 race), and the order of
    /// requests is fixed with one. `--generation-deterministic` replaces a seed: the same cases every run.
    static func arguments(port: Int, token: String) -> [String] {
        ["run", "http://127.0.0.1:\(port)/v1/openapi.json", "--header", "Authorization: Bearer \(token)",
         "--checks", checks, "--max-examples", String(maxExamples), "--generation-deterministic", "--workers", "1",
         "--request-timeout", "10", "--no-color", "--output-truncate", "false"]
    }

    /// Runs `path` in `directory` (schemathesis keeps its example database there), killing it after
    /// `timeoutSeconds` or when the test is cancelled; stdout and stderr together.
    static func run(_ path: String, _ arguments: [String], in directory: URL, timeoutSeconds: Double) async throws -> (status: Int32, output: String) {
        let log = directory.appendingPathComponent("schemathesis-output.txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var timedOut = false
        while process.isRunning {
            if ContinuousClock.now >= deadline || Task.isCancelled {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if timedOut { Issue.record("schemathesis did not finish within \(Int(timeoutSeconds)) s: \(output.suffix(4_000))") }
        return (process.terminationStatus, output)
    }

    /// `Tested: N` from the summary: operations that were actually exercised.
    static func testedOperations(_ output: String) -> Int? {
        output.range(of: #"Tested: (\d+)"#, options: .regularExpression).flatMap { Int(output[$0].dropFirst("Tested: ".count)) }
    }

    /// `N generated` from the summary: test cases sent.
    static func generatedCases(_ output: String) -> Int? {
        output.range(of: #"(\d+) generated"#, options: .regularExpression).flatMap { Int(output[$0].split(separator: " ")[0]) }
    }
}

@Suite("OpenAPI conformance: schemathesis against /v1/openapi.json with a valid token", .serialized)
struct OpenAPIConformanceTests {
    /// The node holding records (every route documented), fuzzed as the custodian organization and
    /// as one of its clinicians.
    @Test(.timeLimit(.minutes(7)),
          .enabled(if: Schemathesis.executable != nil,
                   "needs schemathesis at .build/careledger-pyenv/bin/schemathesis (.ci/run pip-installs schemathesis==4.32.5 there)"))
    func schemathesisFindsNoServerErrorAndNoUndocumentedResponse() async throws {
        let executable = try #require(Schemathesis.executable)
        try await FHIRFixture.with { fixture in
            try await LedgerServer.withServerInProcess(services: { _ in fixture.services }) { port in
                // A node with records serves every route; schemathesis leaves out the document it was loaded from.
                let documented = OpenAPIDocument.routes.filter { $0.path != "/v1/openapi.json" }.count
                for (name, keys) in [("hospital", fixture.hospital), ("doctor", fixture.doctor)] {
                    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-schemathesis-\(UUID().uuidString)")
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    defer { try? FileManager.default.removeItem(at: directory) }
                    let token = try await fixture.services.tokens.mint(for: keys.derivedID).token
                    let run = try await Schemathesis.run(executable, Schemathesis.arguments(port: port, token: token), in: directory, timeoutSeconds: 180)
                    #expect(run.status == 0, "as \(name): \(run.output.suffix(12_000))")
                    #expect(Schemathesis.testedOperations(run.output) == documented, "as \(name): \(run.output.suffix(2_000))")
                    #expect((Schemathesis.generatedCases(run.output) ?? 0) >= documented * 5, "as \(name): \(run.output.suffix(2_000))")
                }
            }
        }
    }
}
