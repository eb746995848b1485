import ArgumentParser
import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Server

/// `careledger import`: load FHIR R4 JSON files, Bundles and NDJSON through the FHIR service's
/// own write path (encrypted into the vault, registered on-chain, indexed blind).
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import FHIR R4 resources: .json files (a resource or a Bundle), .ndjson files, or directories of them.",
        discussion: """
            transaction and batch Bundles whose entries are plain creates and updates (POST Type, PUT Type/id) are \
            processed as one FHIR transaction each (urn:uuid references resolved, all or nothing). Other resources \
            — including Bundles of other types, kept as Bundle resources — are written with their ids (update-as-create), \
            Patients first, in transactions of up to --group resources; a group that fails is retried one resource at \
            a time so one bad resource fails alone. Imported Consents and Claims are records only: they become \
            ledger consents when the patient signs them, and claims are adjudicated only through Claim/$submit. \
            Needs the data directory's lock (stop `careledger node` first).
            """)

    @OptionGroup var options: DataOption
    @Argument(help: "Files or directories to import.") var paths: [String]
    @Option(help: "Identity (key name) the resources are written as (default: the administrator organization).") var `as`: String?
    @Option(help: "Resources per transaction for loose resources (1…1000).") var group = 500
    @Flag(help: "Print JSON.") var json = false

    /// Largest file read.
    static let fileBytesMax = 256 << 20

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one file or directory") }
        guard (1...1_000).contains(group) else { throw ValidationError("--group must be 1…1000") }
    }

    struct Failure { let source: String; let reason: String }

    func run() async throws {
        let files = try Self.collect(paths)
        guard !files.isEmpty else { throw CLIError("no .json or .ndjson files under \(paths.joined(separator: ", "))") }
        var transactions: [(source: String, bundle: [String: Any])] = []
        var loose: [(source: String, resource: [String: Any])] = []
        var failures: [Failure] = []
        let parseStart = ContinuousClock.now
        var contents: [(file: URL, data: Data)] = []
        for file in files {
            guard let size = try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int, size <= Self.fileBytesMax else {
                failures.append(Failure(source: file.lastPathComponent, reason: "larger than \(Self.fileBytesMax >> 20) MiB"))
                continue
            }
            contents.append((file, try Data(contentsOf: file)))
        }
        for parsed in Self.parse(contents) {
            failures += parsed.failures
            for object in parsed.objects {
                if Self.isPlainTransaction(object.value) { transactions.append((object.source, object.value)) } else { loose.append((object.source, object.value)) }
            }
        }
        let parseSeconds = Double((ContinuousClock.now - parseStart) / .milliseconds(1)) / 1_000
        // Patients first, then directory data, then the rest: references then resolve.
        func rank(_ resource: [String: Any]) -> Int {
            let type = resource["resourceType"] as? String ?? ""
            return type == "Patient" ? 0 : RecordsContract.directoryResourceTypes.contains(type) ? 1 : 2
        }
        loose.sort { rank($0.resource) < rank($1.resource) }
        let total = loose.count + transactions.reduce(0) { $0 + (($1.bundle["entry"] as? [Any])?.count ?? 0) }

        let outcome = try await withLedger(options.directory) { ledger -> (imported: Int, seconds: Double) in
            let writerName = self.as ?? ledger.settings.administrator
            let writerKeys = try options.directory.loadKey(writerName)
            guard let writer = Directory.identity(writerKeys.derivedID, in: ledger.node.state), !writer.revoked else {
                throw CLIError("“\(writerName)” is not an active identity on this ledger")
            }
            let fhir = FHIRService(access: ledger.access, patientKeys: DirectoryPatientKeys(directory: options.directory))
            // Records name their patient; a patient referenced but not imported gets a placeholder
            // Patient (no PHI, tagged), so the records still belong to a patient who can consent.
            let placeholders = Self.danglingPatients(loose.map(\.resource) + transactions.flatMap { Self.resources(of: $0.bundle) })
                .filter { RecordIndex.current(FHIRService.recordID(type: "Patient", id: $0), in: ledger.node.state) == nil }
            if !placeholders.isEmpty {
                let stubs: [[String: Any]] = placeholders.map { id in
                    ["resourceType": "Patient", "id": id, "meta": ["tag": [["system": "https://careledger.org/tags", "code": "placeholder",
                                                                             "display": "created by import: referenced, not imported"]]]]
                }
                for chunk in stride(from: 0, to: stubs.count, by: group) {
                    _ = try await fhir.transaction(Self.bundle(Array(stubs[chunk..<min(stubs.count, chunk + group)])), requester: writer,
                                                   base: "urn:careledger")
                }
                if !json { Terminal.line("created \(placeholders.count) placeholder patients for references to patients not in the import") }
            }
            var bar = ProgressBar("importing", total: UInt64(total), enabled: Terminal.stderrIsTTY && !json)
            var imported = 0
            let clock = ContinuousClock()
            let start = clock.now
            await Self.transact(transactions.map { ($0.source, BundleBox(bundle: $0.bundle)) }, fhir: fhir, writer: writer) { source, result in
                switch result {
                case .success(let count): imported += count
                case .failure(let error): failures.append(Failure(source: source, reason: "\(error)"))
                }
                bar.update(UInt64(imported))
            }
            // Loose resources, grouped by rank so a group never needs a later one.
            var index = 0
            while index < loose.count {
                let currentRank = rank(loose[index].resource)
                var end = index
                while end < loose.count, end - index < group, rank(loose[end].resource) == currentRank { end += 1 }
                let part = Array(loose[index..<end])
                do {
                    _ = try await fhir.transaction(Self.bundle(part.map(\.resource)), requester: writer, base: "urn:careledger")
                    imported += part.count
                } catch {
                    for item in part {
                        do {
                            _ = try await fhir.transaction(Self.bundle([item.resource]), requester: writer, base: "urn:careledger")
                            imported += 1
                        } catch { failures.append(Failure(source: item.source, reason: "\(error)")) }
                    }
                }
                bar.update(UInt64(imported))
                index = end
            }
            bar.finish()
            return (imported, Double((clock.now - start) / .milliseconds(1)) / 1_000)
        }
        let rate = outcome.seconds > 0 ? Double(outcome.imported) / outcome.seconds : 0
        if json {
            Terminal.json(["files": files.count, "resources": total, "imported": outcome.imported, "parseSeconds": parseSeconds,
                           "seconds": outcome.seconds, "resourcesPerSecond": rate, "failures": failures.map { ["source": $0.source, "reason": $0.reason] }])
        } else {
            Terminal.line("read and parsed \(grouped(files.count)) files in \(fixed(parseSeconds, 2)) s")
            Terminal.line("imported \(grouped(outcome.imported)) of \(grouped(total)) resources from \(grouped(files.count)) files in \(fixed(outcome.seconds, 2)) s (\(grouped(Int(rate))) resources/s)")
            for failure in failures.prefix(50) { Terminal.line("  ✗ \(failure.source): \(failure.reason)") }
            if failures.count > 50 { Terminal.line("  … and \(failures.count - 50) more failures") }
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// One file's parsed JSON objects (a Bundle, a resource, or an NDJSON file's lines) and the
    /// lines or files that did not parse.
    struct ParsedFile {
        var objects: [(source: String, value: [String: Any])] = []
        var failures: [Failure] = []
    }

    /// Parses files on all cores, keeping their order.
    static func parse(_ contents: [(file: URL, data: Data)]) -> [ParsedFile] {
        AllCores.map(contents) { file, data in
            var parsed = ParsedFile()
            if file.pathExtension == "ndjson" {
                for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
                    let source = "\(file.lastPathComponent):\(number + 1)"
                    do throws(FHIRError) { parsed.objects.append((source, try FHIRJSON.object(Array(line)))) } catch {
                        parsed.failures.append(Failure(source: source, reason: error.diagnostics))
                    }
                }
            } else {
                do throws(FHIRError) {
                    parsed.objects.append((file.lastPathComponent, try FHIRJSON.object(Array(data), limit: FHIRJSON.bundleBytesMax)))
                } catch {
                    parsed.failures.append(Failure(source: file.lastPathComponent, reason: error.diagnostics))
                }
            }
            return parsed
        }
    }

    /// Bundles imported at once, as concurrent clients would send them: one's encryption overlaps
    /// another's vault write and commit wait (6 measured faster than 3; 10 no faster than 6).
    static let inFlight = 6

    /// Processes transaction Bundles `inFlight` at a time; `done` hears each one's entry count or error.
    static func transact(_ bundles: [(source: String, box: BundleBox)], fhir: FHIRService, writer: Identity,
                         done: (String, Result<Int, any Error>) -> Void) async {
        await withTaskGroup(of: (source: String, result: Result<Int, any Error>).self) { group in
            var next = 0
            func launch() {
                guard next < bundles.count else { return }
                let item = bundles[next]
                next += 1
                group.addTask {
                    do {
                        let response = try await fhir.transaction(item.box.bundle, requester: writer, base: "urn:careledger")
                        return (item.source, .success((response["entry"] as? [Any])?.count ?? 0))
                    } catch { return (item.source, .failure(error)) }
                }
            }
            for _ in 0..<inFlight { launch() }
            while let outcome = await group.next() {
                done(outcome.source, outcome.result)
                launch()
            }
        }
    }

    /// Resources inside a Bundle's entries.
    static func resources(of bundle: [String: Any]) -> [[String: Any]] {
        (bundle["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
    }

    /// Ids of patients that resources name (subject, patient, beneficiary) by `Patient/id` but
    /// that are not themselves among the resources.
    static func danglingPatients(_ resources: [[String: Any]]) -> [String] {
        var present = Set<String>()
        var named = Set<String>()
        for resource in resources {
            let type = resource["resourceType"] as? String
            if type == "Patient", let id = resource["id"] as? String { present.insert(id) }
            if type != "Patient", let id = FHIRResourceTypes.patientID(of: resource) { named.insert(id) }
        }
        return named.subtracting(present).sorted()
    }

    /// A transaction Bundle of PUT (with id) or POST (without) entries.
    static func bundle(_ resources: [[String: Any]]) -> [String: Any] {
        let entries: [[String: Any]] = resources.map { resource in
            let type = resource["resourceType"] as? String ?? ""
            if let id = resource["id"] as? String { return ["resource": resource, "request": ["method": "PUT", "url": "\(type)/\(id)"]] }
            return ["resource": resource, "request": ["method": "POST", "url": type]]
        }
        return ["resourceType": "Bundle", "type": "transaction", "entry": entries]
    }

    /// A transaction or batch Bundle made only of plain creates and updates.
    static func isPlainTransaction(_ object: [String: Any]) -> Bool {
        guard object["resourceType"] as? String == "Bundle", ["transaction", "batch"].contains(object["type"] as? String ?? ""),
              let entries = object["entry"] as? [[String: Any]], !entries.isEmpty else { return false }
        return entries.allSatisfy { entry in
            guard let request = entry["request"] as? [String: Any], let method = request["method"] as? String,
                  let url = request["url"] as? String, request["ifNoneExist"] == nil, !url.contains("?"), !url.contains("$") else { return false }
            return (method == "POST" && !url.contains("/")) || (method == "PUT" && url.split(separator: "/").count == 2)
        }
    }

    /// The .json and .ndjson files under the given paths, sorted.
    static func collect(_ paths: [String]) throws -> [URL] {
        var out: [URL] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CLIError("no such file or directory: \(path)") }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                out += names.filter { $0.hasSuffix(".json") || $0.hasSuffix(".ndjson") }.map { URL(fileURLWithPath: path).appendingPathComponent($0) }
            } else {
                out.append(URL(fileURLWithPath: path))
            }
        }
        return out
    }
}
