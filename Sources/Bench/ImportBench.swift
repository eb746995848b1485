import Console
import ArgumentParser
import Contracts
import Demo
import Dispatch
import FHIR
import Foundation
import LedgerCore
import Node
import Server
import Services
import Vault

/// `careledger bench import`: FHIR transaction Bundles through the FHIR write path, resources/s.
struct ImportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import Synthea bundles (copies with fresh ids) through the FHIR transaction path; report resources/s next to the write-out floor.",
        discussion: """
            Reads the Synthea transaction Bundles in --source (default ../shared/data/synthea), makes --copies copies \
            with every id and urn:uuid replaced, parses them, and imports them into a fresh data directory as \
            `careledger import` does: validation, reference resolution, encryption with a fresh AES-256-GCM key per \
            resource wrapped under the patient's key (HPKE-wrapped once per patient to patient and custodian), the \
            blind index, durable vault writes, and on-chain registration (200 per ledger transaction), 6 Bundles in \
            flight. Parsing the files (on all cores) is timed separately, as `careledger import` reports it. The limit measured in the same \
            run is the write-out floor: serializing every resource to JSON and sealing it with AES-256-GCM, nothing \
            else, on one core; the disk's fsync rate is printed beside it.
            """)

    @Option(help: "Directory of Synthea transaction Bundles.") var source = "../shared/data/synthea"
    @Option(help: "Copies of the source bundles to import (1…100).") var copies = 10
    @Option(help: "Keep the data directory here (default: temporary, deleted).") var data: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...100).contains(copies) else { throw ValidationError("--copies must be 1…100") }
    }

    func run() async throws {
        let files = try Importer.collect([source]).filter { $0.pathExtension == "json" }
        guard !files.isEmpty else { throw CLIError("no .json bundles in \(source) (give --source DIR of Synthea transaction Bundles)") }
        let originals = try files.map { String(decoding: try Data(contentsOf: $0), as: UTF8.self) }
        if !json { Terminal.line("preparing \(copies) copies of \(files.count) bundles with fresh ids…") }
        let texts = (0..<copies).flatMap { copy in originals.map { Array(Self.freshIDs($0, copy: copy).utf8) } }
        let parseStart = ContinuousClock.now
        let parsed = Importer.parse(texts.enumerated().map { (URL(fileURLWithPath: "bundle-\($0.offset).json"), Data($0.element)) })
        if let failure = parsed.lazy.flatMap(\.failures).first { throw CLIError("\(failure.source): \(failure.reason)") }
        let bundles = parsed.flatMap { $0.objects.map(\.value) }
        let parseSeconds = Double((ContinuousClock.now - parseStart) / .microseconds(1)) / 1e6
        let resources = bundles.reduce(0) { $0 + (($1["entry"] as? [Any])?.count ?? 0) }

        if !json { Terminal.line("measuring the write-out floor…") }
        let floor = try Self.writeOutPerSecond(bundles)

        let root = data.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("careledger-import-bench-\(UUID().uuidString)")
        defer { if data == nil { try? FileManager.default.removeItem(at: root) } }
        let syncsPerSecond = try Self.syncedWritesPerSecond(in: root.deletingLastPathComponent())
        let directory = DataDirectory(url: root)
        try directory.initialize(chainId: "careledger-import-bench", organizations: [OrganizationSpec(name: "bench-hospital", type: .hospital)], insecurePlainKeys: true)
        let ledger = try await LocalLedger.open(directory, blockDelayMs: 2)
        let writerKeys = try directory.loadKey("bench-hospital")
        guard let writer = Directory.identity(writerKeys.derivedID, in: ledger.node.state) else { throw CLIError("no writer") }
        let fhir = ledger.fhir
        var bar = ProgressBar("importing", total: UInt64(resources), enabled: Terminal.stderrIsTTY && !json)
        let clock = ContinuousClock()
        let cpuStart = Self.cpuSeconds()
        let start = clock.now
        var done = 0
        do {
            var failure: (any Error)?
            await Importer.transact(bundles.enumerated().map { ("bundle \($0.offset)", BundleBox(bundle: $0.element)) },
                                         fhir: fhir, writer: writer) { _, result in
                switch result {
                case .success(let count): done += count
                case .failure(let error): failure = failure ?? error
                }
                bar.update(UInt64(done))
            }
            if let failure { throw failure }
        } catch {
            await ledger.close()
            throw error
        }
        let seconds = Double((clock.now - start) / .microseconds(1)) / 1e6
        let cpu = Self.cpuSeconds() - cpuStart
        bar.finish()
        await ledger.close()
        let rate = Double(done) / seconds
        let parseRate = Double(resources) / parseSeconds
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if json {
            Terminal.json(["bundles": bundles.count, "resources": done, "seconds": seconds, "resourcesPerSecond": rate,
                           "parseSeconds": parseSeconds, "cpuSeconds": cpu, "cpuMicrosecondsPerResource": cpu / Double(max(done, 1)) * 1e6,
                           "limits": ["writeOutResourcesPerSecondOneCore": floor, "fsyncedWritesPerSecond": syncsPerSecond],
                           "ratios": ["resourcesPerSecondToWriteOutFloor": rate / floor], "targetResourcesPerSecond": 3_000])
        } else {
            Terminal.line("")
            Terminal.line("parsed       \(grouped(resources)) resources from \(grouped(bundles.count)) Bundle files in \(fixed(parseSeconds, 2)) s on \(cores) cores (\(grouped(Int(parseRate)))/s; before the import, as `careledger import` parses first)")
            Terminal.line("imported     \(grouped(done)) resources in \(grouped(bundles.count)) transaction Bundles, \(fixed(seconds, 2)) s (CPU \(fixed(cpu, 1)) s: \(fixed(cpu / seconds, 2)) of \(cores) cores busy, \(grouped(Int(cpu / Double(max(done, 1)) * 1e6))) µs per resource)")
            Terminal.line("throughput   \(grouped(Int(rate))) resources/s (target ≥ 3,000)")
            Terminal.line("limit        write-out floor (serialize + AES-256-GCM seal only) \(grouped(Int(floor)))/s on one core; ratio \(fixed(rate / floor * 100))%")
            Terminal.line("disk         \(grouped(Int(syncsPerSecond))) fsync'd 4 KiB writes/s (each Bundle waits for one durable vault write and one durable block commit)")
        }
    }

    /// The bundle text with every UUID replaced by one derived from it and the copy number.
    static func freshIDs(_ text: String, copy: Int) -> String {
        let pattern = try! NSRegularExpression(pattern: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        let source = text as NSString
        var out = ""
        var last = 0
        for match in pattern.matches(in: text, range: NSRange(location: 0, length: source.length)) {
            out += source.substring(with: NSRange(location: last, length: match.range.location - last))
            let hex = Hash256.sha256(Array("\(copy)/\(source.substring(with: match.range))".utf8)).hex
            let chars = Array(hex.prefix(32))
            out += "\(String(chars[0..<8]))-\(String(chars[8..<12]))-\(String(chars[12..<16]))-\(String(chars[16..<20]))-\(String(chars[20..<32]))"
            last = match.range.location + match.range.length
        }
        out += source.substring(from: last)
        return out
    }

    /// Resources per second serialized to JSON and sealed with AES-256-GCM (a fresh key each), on
    /// one core, over the Bundles' resources for at least 1 s: the least any import must do.
    static func writeOutPerSecond(_ bundles: [[String: Any]]) throws -> Double {
        let resources = bundles.flatMap(Importer.resources(of:))
        guard !resources.isEmpty else { return 0 }
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        repeat {
            for resource in resources {
                _ = try RecordCipher.seal(FHIRJSON.data(resource, sorted: false), with: .generate(), record: .zero, version: 1)
            }
            count += resources.count
        } while DispatchTime.now().uptimeNanoseconds - start < 1_000_000_000
        return Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// 4 KiB writes each followed by fdatasync, per second, for ~0.5 s in `folder`: the disk's
    /// durability limit, which every acknowledged write waits for.
    static func syncedWritesPerSecond(in folder: URL) throws -> Double {
        let path = folder.appendingPathComponent("careledger-fsync-probe-\(UUID().uuidString)").path
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot create \(path)") }
        defer { close(fd); unlink(path) }
        let block = [UInt8](repeating: 0x5a, count: 4_096)
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        while DispatchTime.now().uptimeNanoseconds - start < 500_000_000 {
            _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4_096, off_t((count % 16) * 4_096)) }
            fdatasync(fd)
            count += 1
        }
        return Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
