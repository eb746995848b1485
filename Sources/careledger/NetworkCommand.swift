import ArgumentParser
import Console
import Foundation
import ConsortiumNetwork
import Services

/// `careledger network`: a local consortium on loopback for development and fault drills.
struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Run a consortium on this machine: an etcd cluster and one node per organization, each its own process.",
        discussion: """
            Needs etcd (Debian/Ubuntu: apt-get install etcd-server). `up` creates DIR on first use (keys, one genesis, \
            a data directory per organization under DIR/orgs, a generated passphrase in DIR/passphrase unless \
            CARELEDGER_PASSPHRASE is set) and starts what is not running; ports are BASE…BASE+2 for etcd clients, \
            BASE+10… for etcd peers, BASE+20… for the nodes' HTTP APIs. Logs are in DIR/logs. Fault drills: \
            `kill NAME` (SIGKILL a node or etcd-N), `start NAME`, `kill-etcd N`. Membership: `add NAME:TYPE` (a majority \
            of the founders admits it; it gets an etcd member and a node), `remove NAME` (voted out; its node and etcd member stop).
            """,
        subcommands: [Up.self, Status.self, Down.self, Kill.self, Start.self, KillEtcd.self, Add.self, Remove.self])

    struct Place: ParsableArguments {
        @Option(help: "The network's directory.") var dir = "careledger-network"
        var url: URL { URL(fileURLWithPath: dir).standardizedFileURL }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the network if needed and start every process that is not running.")
        @OptionGroup var place: Place
        @Option(name: .customLong("organization"), help: "NAME:TYPE, repeatable (default: hospital, clinic, laboratory).")
        var organizations = ["hospital:hospital", "clinic:clinic", "laboratory:laboratory"]
        @Option(help: "etcd members (1…7).") var etcdMembers = 3
        @Option(help: "First port of the range the network uses.") var basePort = 7400
        @Option(help: "Chain id of a new network.") var chainId = "careledger-consortium"
        @Option(help: "Blocks between checkpoint snapshots on every node of a new network (default 1000).") var checkpointBlocks: UInt64?
        @Option(help: "Blocks of the ordered log each node of a new network keeps in etcd behind the final height; 0 keeps all (default 500).")
        var logRetentionBlocks: UInt64?
        @Flag(help: "Keep the organizations' keys in the clear (throwaway networks only).") var insecurePlainKeys = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let exists = FileManager.default.fileExists(atPath: place.url.appendingPathComponent("network.json").path)
            let network = try exists ? LocalNetwork(root: place.url) : LocalNetwork.create(
                root: place.url, chainId: chainId, organizations: try organizations.map(OrganizationSpec.init(parsing:)), etcdMembers: etcdMembers,
                basePort: basePort, plainKeys: insecurePlainKeys, passphrase: ProcessInfo.processInfo.environment["CARELEDGER_PASSPHRASE"],
                checkpointBlocks: checkpointBlocks, logRetentionBlocks: logRetentionBlocks)
            if !exists, !json { Terminal.line("created \(network.root.path): \(network.layout.organizations.count) organizations, chain \(network.layout.chainId)") }
            try await network.up()
            try await Status.show(network, json: json)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each process: running or not, heights, final height, attestations, etcd health.")
        @OptionGroup var place: Place
        @Flag(help: "Print JSON.") var json = false

        func run() async throws { try await Self.show(try LocalNetwork(root: place.url), json: json) }

        static func show(_ network: LocalNetwork, json: Bool) async throws {
            let states = await network.status()
            if json { Terminal.json(["network": network.root.path, "chainId": network.layout.chainId, "processes": LocalNetwork.json(states)]) }
            else { LocalNetwork.render(states).forEach { Terminal.line($0) } }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every node (gracefully), then etcd; the data stays for the next `up`.")
        @OptionGroup var place: Place
        func run() async throws { try await LocalNetwork(root: place.url).down(); Terminal.line("network in \(place.url.path) stopped") }
    }

    struct Kill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "SIGKILL one process: an organization's node or etcd-N.")
        @OptionGroup var place: Place
        @Argument(help: "Process name (see `status`).") var name: String
        func run() async throws { try await LocalNetwork(root: place.url).kill(name); Terminal.line("killed \(name)") }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start one stopped process (a node or etcd-N) and wait until it answers.")
        @OptionGroup var place: Place
        @Argument(help: "Process name (see `status`).") var name: String
        func run() async throws { try await LocalNetwork(root: place.url).startOne(name); Terminal.line("started \(name)") }
    }

    struct KillEtcd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "kill-etcd", abstract: "SIGKILL etcd member N (1-based).")
        @OptionGroup var place: Place
        @Argument(help: "Member number.") var member: Int
        func run() async throws {
            try await Kill.parse(["etcd-\(member)", "--dir", place.dir]).run()
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit an organization (NAME:TYPE) by a majority of the founders; start its etcd member and node.")
        @OptionGroup var place: Place
        @Argument(help: "NAME:TYPE, e.g. pharmacy-1:pharmacy.") var organization: String
        func run() async throws {
            try await Status.show(try await LocalNetwork(root: place.url).add(try OrganizationSpec(parsing: organization)), json: false)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an organization by a majority of the founders; stop its node and etcd member.")
        @OptionGroup var place: Place
        @Argument(help: "Organization name (see `status`).") var name: String
        func run() async throws { try await Status.show(try await LocalNetwork(root: place.url).remove(name), json: false) }
    }
}
