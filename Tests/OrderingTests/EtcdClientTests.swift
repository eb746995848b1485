#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Ordering
import Testing

/// A single-member etcd on free loopback ports in a temporary directory, stopped (and its
/// directory removed) by `stop()`. Tests that use it are skipped where etcd is not installed.
final class EtcdProcess: @unchecked Sendable {
    static let binary: String? = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let skipReason: Comment = "needs etcd (Debian: apt-get install etcd-server; .ci/run installs it)"

    let process = Process()
    let directory: URL
    let clientURL: String

    init() throws {
        let binary = try #require(Self.binary)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (client, peer) = (try Self.freePort(), try Self.freePort())
        clientURL = "http://127.0.0.1:\(client)"
        let peerURL = "http://127.0.0.1:\(peer)"
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--name", "t", "--data-dir", directory.appendingPathComponent("data").path,
                             "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                             "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "t=\(peerURL)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until the member answers a put.
    func ready(_ client: EtcdClient) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            do {
                try await client.put(Array("ready".utf8), [])
                return
            } catch {
                guard ContinuousClock.now < deadline, process.isRunning else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` against a fresh member and a client of it; always stops the member.
    static func with(_ body: (EtcdProcess, EtcdClient) async throws -> Void) async throws {
        let etcd = try EtcdProcess()
        let client = EtcdClient(endpoints: [etcd.clientURL])
        do {
            try await etcd.ready(client)
            try await body(etcd, client)
        } catch {
            etcd.stop()
            throw error
        }
        etcd.stop()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        _ = inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw EtcdError.unavailable("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The etcd v3 client the consortium's orderer builds on, against a real etcd: puts in revision
/// order, put-if-absent, prefix ranges, watches from a revision, compaction, leases, and an
/// unreachable endpoint skipped.
@Suite("etcd client over the v3 JSON gateway", .serialized, .enabled(if: EtcdProcess.binary != nil, EtcdProcess.skipReason))
struct EtcdClientTests {
    static func key(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test(.timeLimit(.minutes(3)))
    func putsRangesAndPutIfAbsent() async throws {
        try await EtcdProcess.with { _, etcd in
            var revisions: [Int64] = []
            for name in ["log/b", "log/a", "log/c"] { revisions.append(try await etcd.put(Self.key(name), Self.key("v-\(name)"))) }
            #expect(revisions == revisions.sorted() && Set(revisions).count == 3, "each put gets a later revision: \(revisions)")
            try await etcd.put(Self.key("other"), [1])
            let page = try await etcd.range(prefix: Self.key("log/"))
            #expect(page.values.map { String(decoding: $0.key, as: UTF8.self) } == ["log/a", "log/b", "log/c"], "key order, prefix only")
            #expect(page.values.map(\.createRevision) == [revisions[1], revisions[0], revisions[2]])
            #expect(page.values.first?.value == Self.key("v-log/a") && !page.more)
            let first = try await etcd.range(prefix: Self.key("log/"), limit: 2)
            #expect(first.values.count == 2 && first.more)
            let rest = try await etcd.range(prefix: Self.key("log/"), after: first.values.last?.key, limit: 2)
            #expect(rest.values.map { String(decoding: $0.key, as: UTF8.self) } == ["log/c"] && !rest.more)

            let once = try await etcd.putIfAbsent(Self.key("tx/1"), [7])
            let twice = try await etcd.putIfAbsent(Self.key("tx/1"), [8])
            #expect(once.put && !twice.put && once.revision == twice.revision, "the second put of the same key is refused, naming the first")
            #expect(try await etcd.range(prefix: Self.key("tx/1")).values.first?.value == [7])
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aWatchDeliversPutsInRevisionOrderFromARevision() async throws {
        try await EtcdProcess.with { _, etcd in
            _ = try await etcd.put(Self.key("log/1"), [1])
            let second = try await etcd.put(Self.key("log/2"), [2])
            var received: [EtcdKeyValue] = []
            let stream = etcd.watch(prefix: Self.key("log/"), from: second)
            var iterator = stream.makeAsyncIterator()
            // Older revisions first (log/2 only: log/1 is before the start), then what is put later.
            let firstBatch = try await iterator.next()
            received += firstBatch?.values ?? []
            for value in [3, 4] as [UInt8] { try await etcd.put(Self.key("log/\(value)"), [value]) }
            try await etcd.put(Self.key("elsewhere"), [9])
            while received.count < 3, let batch = try await iterator.next() { received += batch.values }
            #expect(received.map(\.value) == [[2], [3], [4]], "\(received)")
            #expect(received.map(\.modRevision) == received.map(\.modRevision).sorted())
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aWatchFromCompactedRevisionsSaysSo() async throws {
        try await EtcdProcess.with { _, etcd in
            let first = try await etcd.put(Self.key("log/1"), [1])
            let last = try await etcd.put(Self.key("log/2"), [2])
            try await etcd.compact(revision: last)
            do {
                for try await _ in etcd.watch(prefix: Self.key("log/"), from: first) {}
                Issue.record("the watch ended without a word about compaction")
            } catch let error as EtcdError {
                #expect(error == .compacted(oldestRevision: last), "\(error)")
            }
            // Ranges still see the current values.
            #expect(try await etcd.range(prefix: Self.key("log/")).values.count == 2)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func leasesAndUnreachableEndpoints() async throws {
        try await EtcdProcess.with { process, etcd in
            let lease = try await etcd.grantLease(seconds: 30)
            try await etcd.put(Self.key("alive/node-1"), [1], lease: lease)
            #expect(try await etcd.keepAlive(lease: lease))
            // A dead first endpoint is skipped.
            let dead = "http://127.0.0.1:\(try EtcdProcess.freePort())"
            let failover = EtcdClient(endpoints: [dead, process.clientURL], requestTimeout: .seconds(2))
            #expect(try await failover.range(prefix: Self.key("alive/")).values.count == 1)
            // No endpoint at all: a specific error, not a hang.
            let nothing = EtcdClient(endpoints: [dead], requestTimeout: .seconds(2))
            await #expect(throws: EtcdError.self) { try await nothing.put(Self.key("x"), [1]) }
            do { try await nothing.put(Self.key("x"), [1]) } catch let error as EtcdError {
                guard case .unavailable = error else { Issue.record("expected unavailable, got \(error)"); return }
            }
        }
    }
}
