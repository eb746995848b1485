import ArgumentParser
import Console
import Contracts
import Foundation
import Services

/// `careledger import`: load FHIR R4 JSON files, Bundles and NDJSON (see `Importer`).
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

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one file or directory") }
        guard (1...Importer.groupResourcesMax).contains(group) else { throw ValidationError("--group must be 1…\(Importer.groupResourcesMax)") }
    }

    func run() async throws {
        let plan = try Importer.plan(paths)
        let outcome = try await withLedger(options.directory) { ledger -> Importer.Outcome in
            let writer = try ledger.activeIdentity(self.as ?? ledger.settings.administrator)
            var bar = ProgressBar("importing", total: UInt64(plan.resourceCount), enabled: Terminal.stderrIsTTY && !json)
            defer { bar.finish() }
            return try await Importer.run(plan, fhir: ledger.fhir, writer: writer, group: group) { bar.update(UInt64($0)) }
        }
        let rate = outcome.seconds > 0 ? Double(outcome.imported) / outcome.seconds : 0
        if json {
            Terminal.json(["files": plan.files.count, "resources": plan.resourceCount, "imported": outcome.imported,
                           "placeholders": outcome.placeholders, "parseSeconds": plan.parseSeconds, "seconds": outcome.seconds,
                           "resourcesPerSecond": rate, "failures": outcome.failures.map { ["source": $0.source, "reason": $0.reason] }])
        } else {
            if outcome.placeholders > 0 {
                Terminal.line("created \(outcome.placeholders) placeholder patients for references to patients not in the import")
            }
            Terminal.line("read and parsed \(grouped(plan.files.count)) files in \(fixed(plan.parseSeconds, 2)) s")
            Terminal.line("imported \(grouped(outcome.imported)) of \(grouped(plan.resourceCount)) resources from \(grouped(plan.files.count)) files in \(fixed(outcome.seconds, 2)) s (\(grouped(Int(rate))) resources/s)")
            for failure in outcome.failures.prefix(50) { Terminal.line("  ✗ \(failure.source): \(failure.reason)") }
            if outcome.failures.count > 50 { Terminal.line("  … and \(outcome.failures.count - 50) more failures") }
        }
        if !outcome.failures.isEmpty { throw ExitCode(1) }
    }
}
