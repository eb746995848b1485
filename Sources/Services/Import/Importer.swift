public import Contracts
import FHIR
public import Foundation
import LedgerCore
import Node

/// The FHIR import: JSON files (a resource or a Bundle), NDJSON and directories of them, written
/// through the FHIR facade's own write path (encrypted into the vault, registered on-chain,
/// indexed blind). Plain transaction and batch Bundles (only creates and updates) are processed as
/// one FHIR transaction each, several in flight; other resources are written with their ids
/// (update-as-create), Patients first, in groups; a group that fails is retried one resource at a
/// time so one bad resource fails alone.
public enum Importer {
    /// Largest file read.
    public static let fileBytesMax = 256 << 20
    /// Most resources in one group of loose resources.
    public static let groupResourcesMax = 1_000

    /// A file, line or Bundle that could not be imported, and why.
    public struct Failure: Sendable {
        public let source: String
        public let reason: String
    }

    /// What the files hold, parsed and classified, ready to import.
    public struct Plan: @unchecked Sendable {
        public let files: [URL]
        /// Plain transaction Bundles, each imported as one FHIR transaction.
        public var transactions: [(source: String, bundle: [String: Any])] = []
        /// Other resources, Patients first, then directory data, then the rest.
        public var loose: [(source: String, resource: [String: Any])] = []
        public var failures: [Failure] = []
        public var parseSeconds = 0.0
        /// Resources to import (loose ones plus every transaction's entries).
        public var resourceCount: Int { loose.count + transactions.reduce(0) { $0 + (($1.bundle["entry"] as? [Any])?.count ?? 0) } }
    }

    /// What an import did.
    public struct Outcome: Sendable {
        public var imported = 0
        public var placeholders = 0
        public var seconds = 0.0
        public var failures: [Failure] = []
    }

    /// Reads and parses the .json and .ndjson files under `paths` (on all cores).
    public static func plan(_ paths: [String]) throws -> Plan {
        let files = try collect(paths)
        guard !files.isEmpty else { throw ServiceError("no .json or .ndjson files under \(paths.joined(separator: ", "))") }
        var plan = Plan(files: files)
        let parseStart = ContinuousClock.now
        var contents: [(file: URL, data: Data)] = []
        for file in files {
            guard let size = try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int, size <= fileBytesMax else {
                plan.failures.append(Failure(source: file.lastPathComponent, reason: "larger than \(fileBytesMax >> 20) MiB"))
                continue
            }
            contents.append((file, try Data(contentsOf: file)))
        }
        for parsed in parse(contents) {
            plan.failures += parsed.failures
            for object in parsed.objects {
                if isPlainTransaction(object.value) { plan.transactions.append((object.source, object.value)) } else {
                    plan.loose.append((object.source, object.value))
                }
            }
        }
        plan.parseSeconds = Double((ContinuousClock.now - parseStart) / .milliseconds(1)) / 1_000
        plan.loose.sort { rank($0.resource) < rank($1.resource) }
        return plan
    }

    /// Patients first, then directory data, then the rest: references then resolve.
    static func rank(_ resource: [String: Any]) -> Int {
        let type = resource["resourceType"] as? String ?? ""
        return type == "Patient" ? 0 : RecordsContract.directoryResourceTypes.contains(type) ? 1 : 2
    }

    /// Imports a plan as `writer`, loose resources `group` at a time; `progress` hears the count imported so far.
    public static func run(_ plan: Plan, fhir: FHIRService, writer: Identity, group: Int,
                           progress: (Int) -> Void = { _ in }) async throws -> Outcome {
        guard (1...groupResourcesMax).contains(group) else { throw ServiceError("a group is 1…\(groupResourcesMax) resources") }
        var outcome = Outcome(failures: plan.failures)
        // Records name their patient; a patient referenced but not imported gets a placeholder
        // Patient (no PHI, tagged), so the records still belong to a patient who can consent.
        let placeholders = danglingPatients(plan.loose.map(\.resource) + plan.transactions.flatMap { resources(of: $0.bundle) })
            .filter { RecordIndex.current(fhir.recordID(type: "Patient", id: $0), in: fhir.access.node.state) == nil }
        if !placeholders.isEmpty {
            let stubs: [[String: Any]] = placeholders.map { id in
                ["resourceType": "Patient", "id": id, "meta": ["tag": [["system": "https://careledger.org/tags", "code": "placeholder",
                                                                         "display": "created by import: referenced, not imported"]]]]
            }
            for chunk in stride(from: 0, to: stubs.count, by: group) {
                _ = try await fhir.transaction(bundle(Array(stubs[chunk..<min(stubs.count, chunk + group)])), requester: writer,
                                               base: "urn:careledger")
            }
            outcome.placeholders = placeholders.count
        }
        let clock = ContinuousClock()
        let start = clock.now
        await transact(plan.transactions.map { ($0.source, BundleBox(bundle: $0.bundle)) }, fhir: fhir, writer: writer) { source, result in
            switch result {
            case .success(let count): outcome.imported += count
            case .failure(let error): outcome.failures.append(Failure(source: source, reason: "\(error)"))
            }
            progress(outcome.imported)
        }
        // Loose resources, grouped by rank so a group never needs a later one.
        let loose = plan.loose
        var index = 0
        while index < loose.count {
            let currentRank = rank(loose[index].resource)
            var end = index
            while end < loose.count, end - index < group, rank(loose[end].resource) == currentRank { end += 1 }
            let part = Array(loose[index..<end])
            do {
                _ = try await fhir.transaction(bundle(part.map(\.resource)), requester: writer, base: "urn:careledger")
                outcome.imported += part.count
            } catch {
                for item in part {
                    do {
                        _ = try await fhir.transaction(bundle([item.resource]), requester: writer, base: "urn:careledger")
                        outcome.imported += 1
                    } catch { outcome.failures.append(Failure(source: item.source, reason: "\(error)")) }
                }
            }
            progress(outcome.imported)
            index = end
        }
        outcome.seconds = Double((clock.now - start) / .milliseconds(1)) / 1_000
        return outcome
    }

    /// One file's parsed JSON objects (a Bundle, a resource, or an NDJSON file's lines) and the
    /// lines or files that did not parse.
    public struct ParsedFile {
        public var objects: [(source: String, value: [String: Any])] = []
        public var failures: [Failure] = []
    }

    /// Parses files on all cores, keeping their order.
    public static func parse(_ contents: [(file: URL, data: Data)]) -> [ParsedFile] {
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
    public static let inFlight = 6

    /// Versions whose index rows an import writes in one vault transaction (`PublishBatch`):
    /// about 20 Synthea Bundles. 4,000 measured faster than publishing each Bundle's own.
    public static let publishBatchVersions = 4_000

    /// Processes transaction Bundles `inFlight` at a time; `done` hears each one's entry count or
    /// error. Their resources are found by search once this returns: the Bundles' index rows are
    /// written in bulk (`publishBatchVersions` at a time) while the import goes on.
    public static func transact(_ bundles: [(source: String, box: BundleBox)], fhir: FHIRService, writer: Identity,
                         done: (String, Result<Int, any Error>) -> Void) async {
        let batch = PublishBatch()
        let access = fhir.access
        // One bulk publish at a time, each after the one before, beside the Bundles still in flight.
        var publishing: Task<Void, Never>?
        func publish() {
            let previous = publishing
            publishing = Task {
                await previous?.value
                // A failed publish leaves the versions pending: the node publishes them when it next opens.
                try? await access.publish(batch)
            }
        }
        await withTaskGroup(of: (source: String, result: Result<Int, any Error>).self) { group in
            var next = 0
            func launch() {
                guard next < bundles.count else { return }
                let item = bundles[next]
                next += 1
                group.addTask {
                    do {
                        let response = try await fhir.transaction(item.box.bundle, requester: writer, base: "urn:careledger", deferredPublishing: batch)
                        return (item.source, .success((response["entry"] as? [Any])?.count ?? 0))
                    } catch { return (item.source, .failure(error)) }
                }
            }
            for _ in 0..<inFlight { launch() }
            while let outcome = await group.next() {
                done(outcome.source, outcome.result)
                launch()
                if batch.count >= publishBatchVersions { publish() }
            }
        }
        publish()
        await publishing?.value
    }

    /// Resources inside a Bundle's entries.
    public static func resources(of bundle: [String: Any]) -> [[String: Any]] {
        (bundle["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
    }

    /// Ids of patients that resources name (subject, patient, beneficiary) by `Patient/id` but
    /// that are not themselves among the resources.
    public static func danglingPatients(_ resources: [[String: Any]]) -> [String] {
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
    public static func bundle(_ resources: [[String: Any]]) -> [String: Any] {
        let entries: [[String: Any]] = resources.map { resource in
            let type = resource["resourceType"] as? String ?? ""
            if let id = resource["id"] as? String { return ["resource": resource, "request": ["method": "PUT", "url": "\(type)/\(id)"]] }
            return ["resource": resource, "request": ["method": "POST", "url": type]]
        }
        return ["resourceType": "Bundle", "type": "transaction", "entry": entries]
    }

    /// A transaction or batch Bundle made only of plain creates and updates.
    public static func isPlainTransaction(_ object: [String: Any]) -> Bool {
        guard object["resourceType"] as? String == "Bundle", ["transaction", "batch"].contains(object["type"] as? String ?? ""),
              let entries = object["entry"] as? [[String: Any]], !entries.isEmpty else { return false }
        return entries.allSatisfy { entry in
            guard let request = entry["request"] as? [String: Any], let method = request["method"] as? String,
                  let url = request["url"] as? String, request["ifNoneExist"] == nil, !url.contains("?"), !url.contains("$") else { return false }
            return (method == "POST" && !url.contains("/")) || (method == "PUT" && url.split(separator: "/").count == 2)
        }
    }

    /// The .json and .ndjson files under the given paths, sorted.
    public static func collect(_ paths: [String]) throws -> [URL] {
        var out: [URL] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ServiceError("no such file or directory: \(path)") }
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

/// A parsed Bundle handed to a task (JSON objects are not Sendable; each Bundle is read by one task only).
public struct BundleBox: @unchecked Sendable {
    public let bundle: [String: Any]
    public init(bundle: [String: Any]) { self.bundle = bundle }
}
