import AsyncHTTPClient
import Contracts
public import Foundation
import LedgerCore
import NIOCore
public import Services
#if canImport(Glibc)
import Glibc
#endif

/// What `careledger network up` creates and `network.json` keeps: the chain, its organizations
/// with their node's HTTP port, and the etcd members with their client and peer ports.
public struct NetworkLayout: Codable, Sendable {
    public struct Organization: Codable, Sendable {
        public var name: String
        public var type: String
        public var port: Int
        /// Its node's peer listener (mutual TLS; absent in networks created before 2026-12-06).
        public var peerPort: Int?
        /// False for an organization added after genesis (`add`); nil or true for a founder.
        public var founder: Bool?
        /// The etcd member added with it, if any.
        public var etcdMember: String?
    }
    public struct EtcdMember: Codable, Sendable {
        public var name: String
        public var clientPort: Int
        public var peerPort: Int
        /// True for a member that joined the running cluster (`add`).
        public var joined: Bool?
    }
    public var chainId: String
    public var organizations: [Organization]
    public var etcd: [EtcdMember]
    /// First port of the network's range (absent in networks created before 2026-12-05: taken from the first etcd member).
    public var basePort: Int?
    /// True when the key files are in the clear (`--insecure-plain-keys`).
    public var plainKeys: Bool
    /// Blocks between checkpoint snapshots on every node (nil: the default, 1,000).
    public var checkpointBlocks: UInt64?
    /// Blocks of the shared log each node keeps in etcd (nil: the default, 500).
    public var logRetentionBlocks: UInt64?

    public var etcdEndpoints: [String] { etcd.map { "http://127.0.0.1:\($0.clientPort)" } }

    /// A node's peer listener is on its HTTP port + 20 (the range's ports 40…59).
    public static let peerPortOffset = 20
}

/// One process of the network as `status` saw it.
public struct ProcessStatus: Sendable {
    public let name: String
    public let pid: Int32?
    public let running: Bool
    /// A node's `/healthz` or an etcd member's `/health`, when it answered.
    public let health: [String: any Sendable]?
    public let url: String
}

/// A consortium on loopback, for development and fault drills: an etcd cluster and one CareLedger
/// node per organization, each a background process with its data and log under one directory:
///
///     DIR/network.json   DIR/passphrase (0600, unless plain keys)
///     DIR/orgs/NAME/     a node's data directory     DIR/etcd/NAME/  an etcd member's data
///     DIR/logs/NAME.log  DIR/run/NAME.pid
public final class LocalNetwork: Sendable {
    public let root: URL
    public let layout: NetworkLayout

    /// Most organizations and etcd members of a local network.
    public static let organizationsMax = 16
    public static let etcdMembersMax = 7

    public init(root: URL) throws {
        self.root = root
        let file = root.appendingPathComponent("network.json")
        guard let data = try? Data(contentsOf: file) else {
            throw ServiceError("\(root.path) holds no network (no network.json); create one with `careledger network up`")
        }
        do { layout = try JSONDecoder().decode(NetworkLayout.self, from: data) } catch {
            throw ServiceError("\(file.path) is damaged: \(error)")
        }
    }

    /// Creates the network's directories, keys and genesis (nothing is started).
    public static func create(root: URL, chainId: String, organizations: [OrganizationSpec], etcdMembers: Int, basePort: Int,
                              plainKeys: Bool, passphrase: String?, checkpointBlocks: UInt64? = nil, logRetentionBlocks: UInt64? = nil) throws -> LocalNetwork {
        if let checkpointBlocks, !(1...1_000_000).contains(checkpointBlocks) { throw ServiceError("checkpoints are 1…1000000 blocks apart") }
        if let logRetentionBlocks, !(0...10_000_000).contains(logRetentionBlocks) { throw ServiceError("the log retention is 0…10000000 blocks") }
        guard !FileManager.default.fileExists(atPath: root.appendingPathComponent("network.json").path) else {
            throw ServiceError("\(root.path) already holds a network")
        }
        guard (1...organizationsMax).contains(organizations.count) else { throw ServiceError("a local network has 1…\(organizationsMax) organizations") }
        guard (1...etcdMembersMax).contains(etcdMembers) else { throw ServiceError("a local network has 1…\(etcdMembersMax) etcd members") }
        guard (1_024...(65_535 - 100)).contains(basePort) else { throw ServiceError("the base port must be 1024…65435") }
        let layout = NetworkLayout(
            chainId: chainId,
            organizations: organizations.enumerated().map {
                .init(name: $1.name, type: $1.type.rawValue, port: basePort + 20 + $0, peerPort: basePort + 20 + $0 + NetworkLayout.peerPortOffset)
            },
            etcd: (0..<etcdMembers).map { .init(name: "etcd-\($0 + 1)", clientPort: basePort + $0, peerPort: basePort + 10 + $0) },
            basePort: basePort,
            plainKeys: plainKeys,
            checkpointBlocks: checkpointBlocks, logRetentionBlocks: logRetentionBlocks)
        for port in layout.organizations.flatMap({ [$0.port] + ($0.peerPort.map { [$0] } ?? []) }) + layout.etcd.flatMap({ [$0.clientPort, $0.peerPort] })
        where !portIsFree(port) {
            throw ServiceError("port \(port) is in use; choose another --base-port")
        }
        let fm = FileManager.default
        for sub in ["orgs", "etcd", "logs", "run"] {
            try fm.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        var secret = passphrase
        if !plainKeys, secret == nil {
            // A generated passphrase, kept beside the network (a development network; production sets its own).
            secret = Base64.encode((0..<24).map { _ in UInt8.random(in: 0...255) })
            let file = root.appendingPathComponent("passphrase")
            guard fm.createFile(atPath: file.path, contents: Data((secret! + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ServiceError("could not write the network's passphrase to \(file.path)")
            }
        }
        let members = zip(organizations, layout.organizations).map { spec, organization in
            Consortium.Member(spec: spec, directory: DataDirectory(url: root.appendingPathComponent("orgs/\(spec.name)"), passphrase: secret),
                              peerURL: organization.peerPort.map { "https://127.0.0.1:\($0)" }, peerPort: organization.peerPort,
                              checkpointBlocks: checkpointBlocks, logRetentionBlocks: logRetentionBlocks)
        }
        try Consortium.create(chainId: chainId, members: members, etcdEndpoints: layout.etcdEndpoints, insecurePlainKeys: plainKeys)
        try write(layout, to: root)
        return try LocalNetwork(root: root)
    }

    static func write(_ layout: NetworkLayout, to root: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(layout).write(to: root.appendingPathComponent("network.json"), options: .atomic)
    }

    // MARK: processes

    /// Names of every process: the etcd members, then the organizations' nodes.
    public var processNames: [String] { layout.etcd.map(\.name) + layout.organizations.map(\.name) }

    func pidFile(_ name: String) -> URL { root.appendingPathComponent("run/\(name).pid") }
    public func logFile(_ name: String) -> URL { root.appendingPathComponent("logs/\(name).log") }

    /// The process's pid if it is running (and is the one this network started).
    public func runningPID(_ name: String) -> Int32? {
        guard let text = try? String(contentsOf: pidFile(name), encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              Glibc.kill(pid, 0) == 0, let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return nil }
        let arguments = String(decoding: cmdline, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
        // A zombie (killed, not yet reaped by init) has an empty command line.
        return arguments.contains(root.path) ? pid : nil
    }

    /// The command line that runs a process.
    func command(_ name: String, careledger: String, etcd: String) throws -> [String] {
        if let member = layout.etcd.first(where: { $0.name == name }) {
            let cluster = layout.etcd.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
            let client = "http://127.0.0.1:\(member.clientPort)", peer = "http://127.0.0.1:\(member.peerPort)"
            return [etcd, "--name", member.name, "--data-dir", root.appendingPathComponent("etcd/\(member.name)").path,
                    "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
                    "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                    "--initial-cluster-state", member.joined == true ? "existing" : "new",
                    "--initial-cluster-token", "careledger-\(layout.chainId)"]
        }
        guard let organization = layout.organizations.first(where: { $0.name == name }) else {
            throw ServiceError("no process “\(name)” in this network; there are \(processNames.joined(separator: ", "))")
        }
        var arguments = [careledger, "node", "--data", root.appendingPathComponent("orgs/\(name)").path, "--port", String(organization.port)]
        if !layout.plainKeys {
            if FileManager.default.fileExists(atPath: root.appendingPathComponent("passphrase").path) {
                arguments += ["--passphrase-file", root.appendingPathComponent("passphrase").path]
            } else if ProcessInfo.processInfo.environment[StoredKey.passphraseVariable]?.isEmpty ?? true {
                throw ServiceError("this network's keys are sealed with the passphrase it was created with: set \(StoredKey.passphraseVariable)")
            }
        }
        return arguments
    }

    /// Starts a process in the background (its own session, output to its log) unless it runs.
    /// - Returns: false if it was already running.
    @discardableResult
    public func start(_ name: String, careledger: String, etcd: String) throws -> Bool {
        if runningPID(name) != nil { return false }
        let arguments = try command(name, careledger: careledger, etcd: etcd)
        // /bin/sh starts it with setsid (so it outlives this command and its terminal), its output
        // appended to its log, and writes its pid. posix_spawn and waitpid, not Foundation's
        // Process: that one watches a descriptor the long-running grandchild would inherit.
        var environment = ProcessInfo.processInfo.environment
        environment["LOG"] = logFile(name).path
        environment["PIDFILE"] = pidFile(name).path
        try? FileManager.default.removeItem(at: pidFile(name))
        let status = try Self.spawnAndWait(["/bin/sh", "-c", "setsid \"$@\" >> \"$LOG\" 2>&1 < /dev/null & echo $! > \"$PIDFILE\"", "sh"] + arguments,
                                           environment: environment)
        guard status == 0, FileManager.default.fileExists(atPath: pidFile(name).path) else {
            throw ServiceError("could not start \(name); see \(logFile(name).path)")
        }
        return true
    }

    /// Runs a short command with /dev/null as its standard streams and waits for it; its exit status.
    static func spawnAndWait(_ arguments: [String], environment: [String: String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        // Nothing else this process has open reaches the long-running grandchild (a caller's pipe
        // would otherwise never see end of file): every descriptor from 3 up closes on exec.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let fd = Int32(entry), fd > 2 { _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC) }
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard spawned == 0 else { throw ServiceError("could not run \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    /// Sends `signal` to a running process; false if it was not running.
    @discardableResult
    public func signal(_ name: String, _ signal: Int32) throws -> Bool {
        guard processNames.contains(name) else { throw ServiceError("no process “\(name)” in this network; there are \(processNames.joined(separator: ", "))") }
        guard let pid = runningPID(name) else { return false }
        return Glibc.kill(pid, signal) == 0
    }

    /// Waits until the named processes are gone (true) or `seconds` passed.
    public func waitStopped(_ names: [String], seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1_000))
        while names.contains(where: { runningPID($0) != nil }) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    // MARK: health

    /// Each process's state: pid, and what its health endpoint answered.
    public func status() async -> [ProcessStatus] {
        var out: [ProcessStatus] = []
        for member in layout.etcd {
            let url = "http://127.0.0.1:\(member.clientPort)", pid = runningPID(member.name)
            out.append(ProcessStatus(name: member.name, pid: pid, running: pid != nil, health: await Self.getJSON(url + "/health"), url: url))
        }
        for organization in layout.organizations {
            let url = "http://127.0.0.1:\(organization.port)", pid = runningPID(organization.name)
            out.append(ProcessStatus(name: organization.name, pid: pid, running: pid != nil, health: await Self.getJSON(url + "/healthz"), url: url))
        }
        return out
    }

    /// Waits until every named process answers its health endpoint (nodes: with a height).
    public func waitHealthy(_ names: [String], seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1_000))
        while true {
            let states = await status().filter { names.contains($0.name) }
            if states.allSatisfy({ $0.running && $0.health != nil }) { return true }
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A GET's JSON object, or nil (no answer within 2 s, or not JSON).
    static func getJSON(_ url: String) async -> [String: any Sendable]? {
        await request(url, token: nil, timeout: .seconds(2))?.json?.mapValues { value -> any Sendable in
            switch value {
            case let text as String: text
            case let number as NSNumber: number.int64Value
            case let list as [Any]: list.map { "\($0)" }
            default: "\(value)"
            }
        }
    }

    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        // As etcd and the nodes bind: a port whose old connections linger in TIME_WAIT is free.
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        _ = inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// The etcd executable: `$CARELEDGER_ETCD`, else `etcd` on the PATH or in /usr/bin, /usr/local/bin.
    public static func etcdBinary() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["CARELEDGER_ETCD"] { return explicit }
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/etcd") { return directory + "/etcd" }
        throw ServiceError("etcd is not installed: on Debian or Ubuntu, sudo apt-get install etcd-server (or set CARELEDGER_ETCD to its path)")
    }

    /// This executable's path (to start nodes with the same build).
    public static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

extension LocalNetwork {
    /// Starts what is not running: the etcd members first (a majority must be healthy before any
    /// node starts), then every organization's node; waits until each answers its health check.
    public func up(careledger: String = LocalNetwork.ownExecutable, seconds: Double = 60) async throws {
        let etcd = try Self.etcdBinary()
        for member in layout.etcd { try start(member.name, careledger: careledger, etcd: etcd) }
        guard await waitHealthy(layout.etcd.map(\.name), seconds: seconds) else {
            throw ServiceError("etcd did not become healthy within \(Int(seconds)) s; see \(root.path)/logs/etcd-*.log")
        }
        for organization in layout.organizations { try start(organization.name, careledger: careledger, etcd: etcd) }
        guard await waitHealthy(layout.organizations.map(\.name), seconds: seconds) else {
            throw ServiceError("not every node answered within \(Int(seconds)) s; see the logs in \(root.path)/logs")
        }
    }

    /// Stops the nodes (SIGTERM: they finish their blocks), then etcd; SIGKILL after `seconds`.
    public func down(seconds: Double = 20) async throws {
        for group in [layout.organizations.map(\.name), layout.etcd.map(\.name)] {
            for name in group { try signal(name, SIGTERM) }
            if await !waitStopped(group, seconds: seconds) {
                for name in group { try signal(name, SIGKILL) }
                _ = await waitStopped(group, seconds: 5)
            }
        }
    }

    /// `status` as text lines.
    public static func render(_ states: [ProcessStatus]) -> [String] {
        states.map { state in
            let pid = state.pid.map { "pid \($0)" } ?? "not running"
            guard let health = state.health else { return "\(state.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(pid), no answer at \(state.url)" }
            if health["chainId"] != nil {
                var line = "\(state.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(pid), \(health["status"] ?? "?"): height \(health["height"] ?? "?"), "
                    + "final \(health["finalHeight"] ?? "?") (quorum \(health["quorum"] ?? "?")), state root \(String("\(health["stateRoot"] ?? "")".prefix(16)))…"
                if let refused = health["refusedAttestations"] as? Int64, refused > 0 { line += ", \(refused) attestations refused" }
                if let divergence = health["divergence"] { line += "\n             DIVERGED: \(divergence)" }
                // etcd fills up if a node cannot retire its part of the log.
                if let error = health["logRetireError"] { line += "\n             the ordered log is not being retired from etcd: \(error)" }
                return line + "  \(state.url)"
            }
            return "\(state.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(pid), etcd health \(health["health"] ?? "?")  \(state.url)"
        }
    }

    /// `status` as JSON.
    public static func json(_ states: [ProcessStatus]) -> [[String: Any]] {
        states.map { state in
            var object: [String: Any] = ["name": state.name, "running": state.running, "url": state.url]
            if let pid = state.pid { object["pid"] = Int(pid) }
            if let health = state.health { object["health"] = health.mapValues { $0 as Any } }
            return object
        }
    }
}
