import ArgumentParser
import Console
import Dispatch
import FHIR
import Foundation
import Services

/// `careledger bench validate`: the R4 conformance checks of the FHIR write path, resources/s on one core.
struct ValidateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate FHIR resources against the R4 definitions (as every FHIR write does) on one core; report resources/s beside the 50,000/s target.",
        discussion: """
            Reads the FHIR JSON files in --dir (default ../shared/data/synthea when it exists, else the HL7 examples \
            committed in Fuzz/corpus/json), parses them once, then runs `FHIRJSON.conform` — the check every FHIR \
            create, update, transaction entry and import runs — over every resource again and again for --seconds \
            on one core. Each Bundle entry's resource counts as one resource and is checked on its own, as a \
            transaction checks it; a file that is not a Bundle is one resource. Files that are not JSON objects with \
            a resourceType are skipped.
            """)

    static let targetPerCore = 50_000.0

    @Option(help: "Directory of FHIR JSON files (resources or Bundles).") var dir: String?
    @Option(help: "Seconds to keep validating (after one untimed pass).") var seconds = 3.0
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (0.1...600).contains(seconds) else { throw ValidationError("--seconds must be 0.1…600") }
    }

    func run() async throws {
        let directory = dir ?? Self.defaultDirectory
        let (resources, files, skipped) = try Self.load(directory)
        guard !resources.isEmpty else { throw CLIError("no FHIR resources in \(directory) (give --dir DIR of FHIR JSON files)") }
        if !json { Terminal.line("validating \(grouped(resources.count)) resources from \(files) files in \(directory) for \(fixed(seconds, 1)) s on one core…") }

        // One untimed pass: warms the tables and counts the resources that do not conform.
        var invalid = 0
        for resource in resources where (try? FHIRJSON.conform(resource)) == nil { invalid += 1 }

        var count = 0
        let cpuStart = Self.threadCPUSeconds()
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + UInt64(seconds * 1e9)
        repeat {
            for resource in resources { _ = try? FHIRJSON.conform(resource) }
            count += resources.count
        } while DispatchTime.now().uptimeNanoseconds < deadline
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let cpu = Self.threadCPUSeconds() - cpuStart
        let rate = Double(count) / elapsed
        let ratio = rate / Self.targetPerCore
        if json {
            Terminal.json(["directory": directory, "files": files, "skippedFiles": skipped, "resources": resources.count,
                           "invalidResources": invalid, "validated": count, "seconds": elapsed, "cpuSeconds": cpu, "cores": 1,
                           "resourcesPerSecond": rate, "microsecondsPerResource": 1e6 / rate,
                           "targetResourcesPerSecondPerCore": Self.targetPerCore, "ratios": ["resourcesPerSecondToTarget": ratio]])
        } else {
            Terminal.line("")
            Terminal.line("resources    \(grouped(resources.count)) from \(files) files (\(skipped) skipped: not FHIR JSON); \(invalid) do not conform")
            Terminal.line("validated    \(grouped(count)) resources in \(fixed(elapsed, 2)) s on one core (\(fixed(1e6 / rate, 2)) µs per resource; "
                          + "the thread had \(fixed(cpu / elapsed * 100))% of a core)")
            Terminal.line("throughput   \(grouped(Int(rate))) resources/s (target ≥ \(grouped(Int(Self.targetPerCore))) per core); ratio \(fixed(ratio * 100))%")
        }
    }

    /// CPU seconds of the calling thread so far (the machine may be shared: beside the wall-clock rate).
    static func threadCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(type(of: RUSAGE_SELF.rawValue).init(1), &usage)   // RUSAGE_THREAD (Linux), which Glibc's module does not export
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// `../shared/data/synthea` when it exists, else the HL7 examples in the fuzz corpus.
    static var defaultDirectory: String {
        FileManager.default.fileExists(atPath: "../shared/data/synthea") ? "../shared/data/synthea" : "Fuzz/corpus/json"
    }

    /// The resources to validate in the files of `directory` (those named `*.json` or without an
    /// extension): each Bundle entry's resource, or the file's resource.
    static func load(_ directory: String) throws -> (resources: [[String: Any]], files: Int, skipped: Int) {
        let url = URL(fileURLWithPath: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
            .filter { $0.hasSuffix(".json") || !$0.contains(".") }
        var resources: [[String: Any]] = [], files = 0, skipped = 0
        for name in names {
            guard let data = try? Data(contentsOf: url.appendingPathComponent(name)),
                  let object = try? FHIRJSON.object([UInt8](data), limit: FHIRJSON.bundleBytesMax), object["resourceType"] is String else {
                skipped += 1
                continue
            }
            files += 1
            if object["resourceType"] as? String == "Bundle", object["entry"] != nil {
                resources += Importer.resources(of: object)
            } else {
                resources.append(object)
            }
        }
        return (resources, files, skipped)
    }
}
