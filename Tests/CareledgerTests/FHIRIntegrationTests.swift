import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `careledger node --port 0` (plus `arguments`), or another serving command, as a child process, stopped with SIGTERM.
final class NodeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    /// What the node printed up to its "listening on" line.
    let banner: String
    private let output = Pipe()

    convenience init(data: String, arguments: [String] = []) throws {
        try self.init(command: ["node", "--data", data, "--port", "0"] + arguments)
    }

    /// Any command that serves and prints "listening on URL" (`node`, `demo --serve`), within `seconds`.
    init(command: [String], seconds: Double = 60) throws {
        process.executableURL = try CareledgerBinary.url
        process.arguments = command
        process.environment = CareledgerBinary.environment
        process.standardOutput = output
        // Standard error to a file: read only if the command ends before it serves, to say why.
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-node-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(seconds)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { Thread.sleep(forTimeInterval: 0.05); continue }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: #"listening on https?://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                found = Int(text[range].split(separator: ":").last!)
            }
        }
        guard let found else {
            process.terminate()
            let said = (try? String(contentsOf: errors, encoding: .utf8)).map { String($0.suffix(2_000)) } ?? ""
            throw ChildError("node did not report a listening port: \(text)\nstandard error: \(said)")
        }
        port = found
        banner = text
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }
}

/// Blocking HTTP for tests (URLSession, bounded by a timeout).
func http(_ url: String, method: String = "GET", token: String? = nil, body: Data? = nil, contentType: String = "application/fhir+json")
    async throws -> (status: Int, body: Data) {
    try await blocking { try httpBlocking(url, method: method, token: token, body: body, contentType: contentType) }
}

func httpBlocking(_ url: String, method: String, token: String?, body: Data?, contentType: String) throws -> (status: Int, body: Data) {
    var request = URLRequest(url: URL(string: url)!, timeoutInterval: 60)
    request.httpMethod = method
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    if let body {
        request.httpBody = body
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
    }
    nonisolated(unsafe) var result: (Int, Data)?
    nonisolated(unsafe) var failure: (any Error)?
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { data, response, error in
        if let error { failure = error } else { result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()) }
        done.signal()
    }.resume()
    guard done.wait(timeout: .now() + 90) == .success else { throw ChildError("\(method) \(url) timed out") }
    if let failure { throw failure }
    return result!
}

/// The first executable `name` on PATH, if any (for tests that need an external tool).
func executableOnPath(_ name: String) -> String? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/\(name)" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Runs a program to completion with a timeout; returns status and combined output.
func runProgram(_ path: String, _ arguments: [String], timeoutSeconds: Double) async throws -> (status: Int32, output: String) {
    try await blocking { try runProgramBlocking(path, arguments, timeoutSeconds: timeoutSeconds) }
}

func runProgramBlocking(_ path: String, _ arguments: [String], timeoutSeconds: Double) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    nonisolated(unsafe) var data = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { data = pipe.fileHandleForReading.readDataToEndOfFile() }
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        throw ChildError("\(path) \(arguments.joined(separator: " ")) did not finish within \(timeoutSeconds) s")
    }
    process.waitUntilExit()
    group.wait()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("FHIR over a running node: import, validation, a standard client", .serialized)
struct FHIRIntegrationTests {
    /// Imports all of Synthea and the HL7 examples, serves them, and runs ../shared/tools/fhir-validate
    /// on what the server returns: metadata, reads, searchsets (with _include) and histories.
    @Test(.timeLimit(.minutes(10)),
          .enabled(if: SharedData.has("data/synthea", "data/fhir-r4-examples", "tools/fhir-validate"),
                   SharedData.reason("data/synthea", "data/fhir-r4-examples", "tools/fhir-validate")))
    func importServeAndValidate() async throws {
        let data = temporaryDataPath()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-validate-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(at: out)
        }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        #expect(try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital"]).status == 0)
        let imported = try await CareledgerBinary.run(["import", "--data", data, "--json",
                                                 SharedData.url("data/synthea").path,
                                                 SharedData.url("data/fhir-r4-examples").path], timeoutSeconds: 400)
        #expect(imported.status == 0, "\(imported.stdout.suffix(2_000))")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(imported.stdout.utf8)) as? [String: Any])
        #expect(report["imported"] as? Int == report["resources"] as? Int)
        #expect((report["resources"] as? Int ?? 0) >= 1_962 + 352)

        let token = try #require(try await CareledgerBinary.run(["token", "--data", data]).stdout.split(separator: "\n").last.map(String.init))
        let node = try await blocking { try NodeProcess(data: data) }
        defer { node.stop() }  // SIGTERM; the wait is bounded (30 s)
        let base = "http://127.0.0.1:\(node.port)/fhir"
        var saved = 0
        func save(_ path: String) async throws -> [String: Any] {
            let answer = try await http("\(base)/\(path)", token: token)
            #expect(answer.status == 200, "\(path): \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
            saved += 1
            try answer.body.write(to: out.appendingPathComponent("\(saved).json"))
            return (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any]) ?? [:]
        }
        _ = try await save("metadata")
        let patients = try await save("Patient?_count=100")
        let ids = (patients["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
        #expect(ids.count >= 30)
        for id in ids.prefix(12) {
            _ = try await save("Patient/\(id)")
            _ = try await save("Patient/\(id)/_history")
            _ = try await save("Observation?patient=\(id)&_count=40&_include=Observation:patient")
            _ = try await save("Encounter?patient=\(id)&_include=Encounter:serviceProvider")
            _ = try await save("Condition?patient=\(id)")
        }
        for id in ids.prefix(4) {
            _ = try await save("Patient/\(id)/$everything")
            _ = try await save("AuditEvent?patient=\(id)&_count=200")
            _ = try await save("Provenance?target=Patient/\(id)")
        }
        _ = try await save("Observation/_history?_count=50")
        for type in ["Claim", "ExplanationOfBenefit", "MedicationRequest", "Immunization", "Consent", "Organization", "Practitioner",
                     "MedicationDispense", "ServiceRequest", "Bundle"] {
            let page = try await save("\(type)?_count=30")
            for entry in (page["entry"] as? [[String: Any]] ?? []).prefix(5) {
                guard let id = (entry["resource"] as? [String: Any])?["id"] as? String else { continue }
                _ = try await save("\(type)/\(id)")
            }
        }
        // Bulk export NDJSON, validated too.
        var request = URLRequest(url: URL(string: "\(base)/$export?_type=Patient,Condition,Immunization")!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("respond-async", forHTTPHeaderField: "Prefer")
        let exportRequest = request
        let kickoff = try await blocking { () throws -> String in
            nonisolated(unsafe) var location: String?
            let done = DispatchSemaphore(value: 0)
            URLSession.shared.dataTask(with: exportRequest) { _, response, _ in
                location = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Location")
                done.signal()
            }.resume()
            _ = done.wait(timeout: .now() + 60)
            guard let location else { throw ChildError("no Content-Location from $export") }
            return location
        }
        var manifest: [String: Any] = [:]
        for _ in 0..<600 {
            let status = try await http(kickoff, token: token)
            if status.status == 200 { manifest = (try JSONSerialization.jsonObject(with: status.body) as? [String: Any]) ?? [:]; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let outputs = try #require(manifest["output"] as? [[String: Any]])
        #expect(outputs.count == 3)
        for output in outputs {
            let file = try await http(output["url"] as? String ?? "", token: token)
            #expect(file.status == 200)
            saved += 1
            try file.body.write(to: out.appendingPathComponent("\(saved).ndjson"))
        }

        let validator = SharedData.url("tools/fhir-validate").path
        let result = try await runProgram(validator, [out.path], timeoutSeconds: 400)
        // The validator counts every resource (each Bundle entry too): at least one per saved file, none failed.
        let summary = try #require(result.output.range(of: #"(\d+) passed, (\d+) failed"#, options: .regularExpression).map { String(result.output[$0]) })
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers[0] >= saved && numbers[1] == 0, "\(summary) for \(saved) files: \(result.output.suffix(3_000))")
        #expect(result.status == 0)
    }

    /// Python's fhirclient (installed by the test into .build/careledger-pyenv) reads the
    /// CapabilityStatement, creates, reads, searches and pages against a running node.
    @Test(.timeLimit(.minutes(8)), .enabled(if: executableOnPath("python3") != nil, "needs python3 on PATH (and PyPI, to install fhirclient)"))
    func standardClientLibrary() async throws {
        let python = SharedData.packageRoot.appendingPathComponent(".build/careledger-pyenv/bin/python").path
        var installed = FileManager.default.isExecutableFile(atPath: python)
        if installed { installed = (try? await runProgram(python, ["-c", "import fhirclient"], timeoutSeconds: 60))?.status == 0 }
        if !installed {
            let venv = SharedData.packageRoot.appendingPathComponent(".build/careledger-pyenv").path
            let made = try await runProgram("/usr/bin/env", ["python3", "-m", "venv", venv], timeoutSeconds: 120)
            #expect(made.status == 0, "\(made.output)")
            let pip = try await runProgram(venv + "/bin/pip", ["install", "--quiet", "fhirclient==4.4.0"], timeoutSeconds: 300)
            guard pip.status == 0 else {
                Issue.record("could not install fhirclient: \(pip.output.suffix(1_000))")
                return
            }
        }
        let data = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        #expect(try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital"]).status == 0)
        let token = try #require(try await CareledgerBinary.run(["token", "--data", data]).stdout.split(separator: "\n").last.map(String.init))
        let node = try await blocking { try NodeProcess(data: data) }
        defer { node.stop() }  // SIGTERM; the wait is bounded (30 s)
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-fhirclient-\(UUID().uuidString).py")
        defer { try? FileManager.default.removeItem(at: script) }
        try Self.clientScript.write(to: script, atomically: true, encoding: .utf8)
        let run = try await runProgram(python, [script.path, "http://127.0.0.1:\(node.port)/fhir", token], timeoutSeconds: 180)
        #expect(run.status == 0, "\(run.output.suffix(3_000))")
        #expect(run.output.contains("fhirclient: capability, create, read, search and 3 pages OK"), "\(run.output.suffix(2_000))")
    }

    static let clientScript = """
    import sys
    from fhirclient import server as fhirserver
    from fhirclient.models.capabilitystatement import CapabilityStatement
    from fhirclient.models.patient import Patient
    from fhirclient.models.observation import Observation
    from fhirclient.models.bundle import Bundle

    base, token = sys.argv[1], sys.argv[2]
    srv = fhirserver.FHIRServer(None, base_uri=base)
    srv.session.headers['Authorization'] = 'Bearer ' + token

    cap = CapabilityStatement(srv.request_json('metadata'))
    assert cap.fhirVersion == '4.0.1', cap.fhirVersion
    types = [r.type for r in cap.rest[0].resource]
    assert 'Patient' in types and 'Observation' in types

    created = Patient({'name': [{'family': 'Client', 'given': ['Py']}], 'gender': 'male', 'birthDate': '1990-01-01'}).create(srv)
    pid = created['id']
    patient = Patient.read(pid, srv)
    assert patient.name[0].family == 'Client', patient.as_json()

    for day in range(1, 6):
        Observation({'status': 'final', 'code': {'coding': [{'system': 'http://loinc.org', 'code': '8867-4'}]},
                     'subject': {'reference': 'Patient/' + pid}, 'effectiveDateTime': '2024-03-0%dT08:00:00Z' % day,
                     'valueQuantity': {'value': 60 + day, 'unit': '/min'}}).create(srv)

    bundle = Observation.where(struct={'patient': pid, '_count': '2'}).perform(srv)
    assert bundle.total == 5, bundle.total
    seen = [e.resource.id for e in bundle.entry]
    pages = 1
    while True:
        nxt = [l.url for l in (bundle.link or []) if l.relation == 'next']
        if not nxt:
            break
        bundle = Bundle(srv.request_json(nxt[0][len(base) + 1:]))
        seen += [e.resource.id for e in bundle.entry]
        pages += 1
    assert len(seen) == 5 and len(set(seen)) == 5, seen
    found = Patient.where(struct={'family': 'Client'}).perform(srv)
    assert found.total == 1 and found.entry[0].resource.id == pid
    print('fhirclient: capability, create, read, search and %d pages OK' % pages)
    """
}
