import Console
import ArgumentParser
import Contracts
import Demo
import FHIR
import Foundation
import Hummingbird
import LedgerCore
import Logging
import Node
import Server
import Services
import Storage

/// `careledger bench api`: FHIR reads with consent check and audit under load, next to a trivial route.
struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Load FHIR reads (consent decision + durable audit + decryption) with wrk on loopback; report req/s and latency next to /healthz.",
        discussion: """
            Builds a hospital with one clinician, imports --patients patients with --observations Observations each \
            through the FHIR transaction path, serves them on a free port in this process, then runs wrk (install \
            with `apt-get install wrk`) for --seconds against GET /healthz (the trivial-route limit) and against \
            GET /fhir/Observation/{id} cycling through every Observation as the clinician. wrk shares the machine's \
            cores with the server. Every FHIR read is checked against the audit log afterwards.
            """)

    @Option(help: "Patients to import.") var patients = 50
    @Option(help: "Observations per patient.") var observations = 20
    @Option(help: "Seconds per wrk run.") var seconds = 10
    @Option(help: "Concurrent connections.") var connections = 32
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...10_000).contains(patients), (1...1_000).contains(observations) else { throw ValidationError("--patients 1…10000, --observations 1…1000") }
        guard (1...600).contains(seconds), (1...1_000).contains(connections) else { throw ValidationError("--seconds 1…600, --connections 1…1000") }
    }

    struct WrkResult {
        let requestsPerSecond: Double
        let p50Ms: Double
        let p99Ms: Double
        let requests: Int
        let non2xx: Int
        var json: [String: Any] { ["requestsPerSecond": requestsPerSecond, "p50Ms": p50Ms, "p99Ms": p99Ms, "requests": requests, "non2xx": non2xx] }
    }

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else { throw CLIError("bench api needs wrk: apt-get install wrk") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-api-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = DataDirectory(url: root)
        try directory.initialize(chainId: "careledger-api-bench", organizations: [OrganizationSpec(name: "bench-hospital", type: .hospital)], insecurePlainKeys: true)
        let ledger = try await LocalLedger.open(directory, blockDelayMs: 2)
        do {
            try await measure(ledger, directory)
        } catch {
            await ledger.close()
            throw error
        }
        await ledger.close()
    }

    func measure(_ ledger: LocalLedger, _ directory: DataDirectory) async throws {
        let hospital = try directory.loadKey("bench-hospital")
        let clinician = IdentityKeys.generate()
        try await ledger.commit(ledger.sign(hospital, MembershipContract.Enroll(
            label: "bench-clinician", roles: [.clinician], signingKey: clinician.signingPublicKey, agreementKey: clinician.agreementPublicKey)))
        guard let writer = Directory.identity(hospital.derivedID, in: ledger.node.state),
              let reader = Directory.identity(clinician.derivedID, in: ledger.node.state) else { throw CLIError("bench identities missing") }
        let fhir = ledger.fhir
        if !json { Terminal.line("importing \(grouped(patients)) patients × \(observations) observations…") }
        var bar = ProgressBar("importing", total: UInt64(patients), enabled: Terminal.stderrIsTTY && !json)
        var paths: [String] = []
        for patient in 0..<patients {
            let response = try await fhir.transaction(Self.bundle(patient: patient, observations: observations), requester: writer, base: "urn:bench")
            for entry in response["entry"] as? [[String: Any]] ?? [] {
                guard let resource = entry["resource"] as? [String: Any], resource["resourceType"] as? String == "Observation",
                      let id = resource["id"] as? String else { continue }
                paths.append("/fhir/Observation/\(id)")
            }
            bar.update(UInt64(patient + 1))
        }
        bar.finish()

        let nodeKeys = try directory.loadKey(ledger.settings.nodeKey)
        var authority: TokenAuthority?
        try await LedgerServer.withServerInProcess(services: { url in
            let tokens = await TokenAuthority(nodeKeys: nodeKeys, chainId: ledger.settings.chainId, publicURL: url, usedAssertions: InMemoryUsedAssertions())
            authority = tokens
            return ServerServices(node: ledger.node, nodeKeys: nodeKeys, tokens: tokens, fhir: fhir)
        }) { port in
            let token = try await authority!.mint(for: reader.id).token
            let auditBefore = try ledger.access.vault.auditHead().size
            let script = root(directory).appendingPathComponent("reads.lua")
            try Self.script(paths: paths, token: token).write(to: script, atomically: true, encoding: .utf8)
            if !json { Terminal.line("wrk: \(connections) connections, \(seconds) s per run, on the same 2 cores as the server…") }
            let baseline = try await wrk(url: "http://127.0.0.1:\(port)/healthz", script: nil)
            let reads = try await wrk(url: "http://127.0.0.1:\(port)", script: script)
            let audited = try ledger.access.vault.auditHead().size - auditBefore
            if json {
                Terminal.json(["observations": paths.count, "connections": connections, "seconds": seconds, "trivialRoute": baseline.json,
                               "fhirRead": reads.json, "auditEntriesWritten": audited,
                               "ratioToTrivialRoute": reads.requestsPerSecond / baseline.requestsPerSecond,
                               "target": ["requestsPerSecond": 5_000, "p99Ms": 20]])
            } else {
                Terminal.line("")
                Terminal.line("trivial route  GET /healthz            \(grouped(Int(baseline.requestsPerSecond))) req/s, p50 \(fixed(baseline.p50Ms, 2)) ms, p99 \(fixed(baseline.p99Ms, 2)) ms")
                Terminal.line("FHIR read      GET /fhir/Observation/id \(grouped(Int(reads.requestsPerSecond))) req/s, p50 \(fixed(reads.p50Ms, 2)) ms, p99 \(fixed(reads.p99Ms, 2)) ms (\(grouped(reads.non2xx)) non-2xx of \(grouped(reads.requests)))")
                Terminal.line("ratio          \(fixed(reads.requestsPerSecond / baseline.requestsPerSecond * 100))% of the trivial route; target ≥ 5,000 req/s, p99 < 20 ms")
                Terminal.line("audit          \(grouped(Int(audited))) entries written durably for \(grouped(reads.requests)) reads")
            }
        }
    }

    func root(_ directory: DataDirectory) -> URL { directory.url }

    /// Runs wrk and parses req/s and the latency percentiles.
    func wrk(url: String, script: URL?) async throws -> WrkResult {
        var arguments = ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency"]
        if let script { arguments += ["-s", script.path] }
        arguments.append(url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output: String = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        func number(after label: String) -> Double? {
            guard let line = output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }) else { return nil }
            return line.split(separator: " ").dropFirst(label.split(separator: " ").count).first.flatMap { Self.milliseconds(String($0)) ?? Double($0) }
        }
        guard let rps = number(after: "Requests/sec:"), let p50 = number(after: "50%"), let p99 = number(after: "99%") else {
            throw CLIError("could not read wrk's output:\n\(output)")
        }
        let requests = output.range(of: #"(\d+) requests in"#, options: .regularExpression).map { Int(output[$0].split(separator: " ")[0]) ?? 0 } ?? 0
        let non2xx = output.range(of: #"Non-2xx or 3xx responses: (\d+)"#, options: .regularExpression)
            .map { Int(output[$0].split(separator: " ").last ?? "0") ?? 0 } ?? 0
        return WrkResult(requestsPerSecond: rps, p50Ms: p50, p99Ms: p99, requests: requests, non2xx: non2xx)
    }

    /// "1.23ms", "450.00us", "1.10s" → milliseconds.
    static func milliseconds(_ text: String) -> Double? {
        if text.hasSuffix("ms") { return Double(text.dropLast(2)) }
        if text.hasSuffix("us") { return Double(text.dropLast(2)).map { $0 / 1_000 } }
        if text.hasSuffix("s") { return Double(text.dropLast(1)).map { $0 * 1_000 } }
        return nil
    }

    static func script(paths: [String], token: String) -> String {
        """
        local paths = {\(paths.map { "\"\($0)\"" }.joined(separator: ","))}
        local counter = 0
        request = function()
          counter = counter + 1
          return wrk.format("GET", paths[(counter % #paths) + 1], {["Authorization"] = "Bearer \(token)", ["Accept"] = "application/fhir+json"})
        end
        """
    }

    static func bundle(patient: Int, observations: Int) -> [String: Any] {
        var entries: [[String: Any]] = [["fullUrl": "urn:uuid:p-\(patient)", "request": ["method": "POST", "url": "Patient"],
                                          "resource": ["resourceType": "Patient", "name": [["family": "Bench\(patient)", "given": ["Load"]]],
                                                       "gender": patient % 2 == 0 ? "female" : "male", "birthDate": "1970-01-01"]]]
        for index in 0..<observations {
            entries.append(["fullUrl": "urn:uuid:o-\(patient)-\(index)", "request": ["method": "POST", "url": "Observation"],
                            "resource": ["resourceType": "Observation", "status": "final", "subject": ["reference": "urn:uuid:p-\(patient)"],
                                         "code": ["coding": [["system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"]]],
                                         "effectiveDateTime": "2024-01-\(String(format: "%02d", index % 28 + 1))T08:00:00Z",
                                         "valueQuantity": ["value": 60 + index % 40, "unit": "/min"]]])
        }
        return ["resourceType": "Bundle", "type": "transaction", "entry": entries]
    }
}
