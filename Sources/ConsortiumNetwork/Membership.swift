import AsyncHTTPClient
import Contracts
import Foundation
import LedgerCore
import NIOCore
import NIOHTTP1
import Node
import Ordering
import Server
public import Services
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Membership changes of a running local network: an organization joins (the founders vote it in,
/// it gets its own etcd member and node, which replays the chain) or leaves (the founders vote it
/// out, its node and etcd member stop).
extension LocalNetwork {
    /// SIGKILLs one process (a node or etcd-N) and waits until it is gone.
    public func kill(_ name: String) async throws {
        guard try signal(name, SIGKILL) else { throw ServiceError("\(name) is not running") }
        _ = await waitStopped([name], seconds: 10)
    }

    /// Starts one stopped process and waits until it answers.
    public func startOne(_ name: String, careledger: String = LocalNetwork.ownExecutable, seconds: Double = 60) async throws {
        guard try start(name, careledger: careledger, etcd: try Self.etcdBinary()) else { throw ServiceError("\(name) is already running") }
        guard await waitHealthy([name], seconds: seconds) else { throw ServiceError("\(name) did not answer within \(Int(seconds)) s; see \(logFile(name).path)") }
    }

    /// The founders' organization names, in genesis order.
    var founders: [String] { layout.organizations.filter { $0.founder != false }.map(\.name) }

    /// The passphrase the network's keys are sealed with (nil for plain keys).
    func passphrase() throws -> String? {
        if layout.plainKeys { return nil }
        if let text = try? String(contentsOf: root.appendingPathComponent("passphrase"), encoding: .utf8) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let secret = ProcessInfo.processInfo.environment[StoredKey.passphraseVariable], !secret.isEmpty else {
            throw ServiceError("this network's keys are sealed with the passphrase it was created with: set \(StoredKey.passphraseVariable)")
        }
        return secret
    }

    func directory(_ name: String) throws -> DataDirectory {
        DataDirectory(url: root.appendingPathComponent("orgs/\(name)"), passphrase: try passphrase())
    }

    /// Admits a new organization: a majority of the founders vote for it (each through its own
    /// node), an etcd member is added for it, and its node starts and replays the chain. Returns
    /// the network with the new layout.
    public func add(_ spec: OrganizationSpec, careledger: String = LocalNetwork.ownExecutable, seconds: Double = 60) async throws -> LocalNetwork {
        guard !processNames.contains(spec.name), !["node", "sealing"].contains(spec.name) else {
            throw ServiceError("“\(spec.name)” is taken in this network; choose another name")
        }
        guard layout.organizations.count < Self.organizationsMax else { throw ServiceError("a local network has at most \(Self.organizationsMax) organizations") }
        guard layout.etcd.count < Self.etcdMembersMax else { throw ServiceError("a local network has at most \(Self.etcdMembersMax) etcd members") }
        let base = layout.basePort ?? (layout.etcd.first?.clientPort ?? 7_400)
        let port = (0..<20).map { base + 20 + $0 }.first { candidate in
            !layout.organizations.contains { $0.port == candidate } && Self.portIsFree(candidate) && Self.portIsFree(candidate + NetworkLayout.peerPortOffset)
        }
        let etcdIndex = (0..<Self.etcdMembersMax).first { index in !layout.etcd.contains { $0.clientPort == base + index } }
        guard let port, let etcdIndex, Self.portIsFree(base + etcdIndex), Self.portIsFree(base + 10 + etcdIndex) else {
            throw ServiceError("no free port left in \(base)…\(base + 59) for a new organization")
        }
        // Its data directory: the genesis block as a founder's node holds it (its roots checked).
        let genesisStore = try SQLiteLedgerStore(path: try directory(founders[0]).ledgerPath)
        guard let genesis = try Genesis.block(at: 0, in: genesisStore) else { throw ServiceError("\(founders[0])'s store holds no genesis block") }
        let sealing = try directory(founders[0]).loadKey("sealing")
        let peerPort = port + NetworkLayout.peerPortOffset
        let member = Consortium.Member(spec: spec, directory: try directory(spec.name), peerURL: "https://127.0.0.1:\(peerPort)", peerPort: peerPort,
                                       checkpointBlocks: layout.checkpointBlocks, logRetentionBlocks: layout.logRetentionBlocks)
        let keys = try Consortium.join(member, chainId: layout.chainId, genesis: genesis, sealing: sealing, etcdEndpoints: layout.etcdEndpoints,
                                       insecurePlainKeys: layout.plainKeys)
        // The founders' votes: a majority, each through its own node.
        let admit = MembershipContract.AdmitOrganization(label: spec.name, organizationType: spec.type, signingKey: keys.signingPublicKey,
                                                         agreementKey: keys.agreementPublicKey)
        do { try await vote(admit) } catch {
            try? FileManager.default.removeItem(at: member.directory.url)
            throw error
        }
        // Its etcd member joins the cluster (etcd refuses while it deems the cluster unhealthy, as it
        // does for a while after a member restarted), then its node starts.
        let etcdName = "etcd-\(etcdIndex + 1)"
        let joining = NetworkLayout.EtcdMember(name: etcdName, clientPort: base + etcdIndex, peerPort: base + 10 + etcdIndex, joined: true)
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            do {
                try await EtcdClient(endpoints: layout.etcdEndpoints).addMember(peerURL: "http://127.0.0.1:\(joining.peerPort)")
                break
            } catch {
                guard ContinuousClock.now < deadline else {
                    throw ServiceError("the founders admitted \(spec.name), but etcd did not take its member within \(Int(seconds)) s: \(error)")
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
        var next = layout
        next.etcd.append(joining)
        next.organizations.append(.init(name: spec.name, type: spec.type.rawValue, port: port, peerPort: peerPort, founder: false, etcdMember: etcdName))
        try Self.write(next, to: root)
        let network = try LocalNetwork(root: root)
        let etcd = try Self.etcdBinary()
        try network.start(etcdName, careledger: careledger, etcd: etcd)
        guard await network.waitHealthy([etcdName], seconds: seconds) else { throw ServiceError("\(etcdName) did not join; see \(network.logFile(etcdName).path)") }
        try network.start(spec.name, careledger: careledger, etcd: etcd)
        guard await network.waitHealthy([spec.name], seconds: seconds) else { throw ServiceError("\(spec.name) did not answer; see \(network.logFile(spec.name).path)") }
        return network
    }

    /// Removes an organization: a majority of the founders vote it out, then its node stops and
    /// its etcd member (if it brought one) leaves the cluster. Its data directory stays.
    public func remove(_ name: String, seconds: Double = 20) async throws -> LocalNetwork {
        guard let organization = layout.organizations.first(where: { $0.name == name }) else {
            throw ServiceError("no organization “\(name)” in this network")
        }
        let id = try directory(name).loadKey(name).derivedID
        try await vote(MembershipContract.RemoveOrganization(organization: id))
        try signal(name, SIGTERM)
        _ = await waitStopped([name], seconds: seconds)
        var next = layout
        next.organizations.removeAll { $0.name == name }
        if let etcdName = organization.etcdMember, let member = layout.etcd.first(where: { $0.name == etcdName }) {
            let client = EtcdClient(endpoints: layout.etcdEndpoints.filter { $0 != "http://127.0.0.1:\(member.clientPort)" })
            if let id = try await client.members().first(where: { $0.name == etcdName || $0.peerURLs.contains("http://127.0.0.1:\(member.peerPort)") })?.id {
                try await client.removeMember(id: id)
            }
            try signal(etcdName, SIGTERM)
            _ = await waitStopped([etcdName], seconds: seconds)
            next.etcd.removeAll { $0.name == etcdName }
        }
        try Self.write(next, to: root)
        return try LocalNetwork(root: root)
    }

    /// A majority of the founders make `call`, each signed with its organization's key and sent
    /// through its own node with a token that node's key mints.
    func vote(_ call: some ContractMethod) async throws {
        let founders = self.founders
        var votes = 0
        var refusals: [String] = []
        for name in founders where votes * 2 <= founders.count {
            guard let organization = layout.organizations.first(where: { $0.name == name }) else { continue }
            let directory = try directory(name)
            let keys = try directory.loadKey(name)
            let token = try await TokenAuthority(mintingFor: try directory.loadKey("node"), chainId: layout.chainId).mint(for: keys.derivedID).token
            let node = "http://127.0.0.1:\(organization.port)"
            guard let me = await Self.request(node + "/v1/identities/me", token: token),
                  let sequence = (me.json?["next_sequence"] as? NSNumber)?.uint64Value else {
                refusals.append("\(name)'s node does not answer")
                continue
            }
            let tx = Transaction.sign(TransactionBody(chainId: layout.chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                      sequence: sequence, call: call), with: keys)
            let body = Data(try JSONSerialization.data(withJSONObject: ["transaction": Base64.encode(tx.bytes)]))
            guard let answer = await Self.request(node + "/v1/txs?wait=committed&timeout_ms=20000", token: token, body: body),
                  answer.status == 200 else {
                refusals.append("\(name): \(await Self.request(node + "/healthz", token: nil).map { "\($0.json ?? [:])" } ?? "no answer")")
                continue
            }
            votes += 1
        }
        guard votes * 2 > founders.count else {
            throw ServiceError("only \(votes) of \(founders.count) founders voted: \(refusals.joined(separator: "; "))")
        }
    }

    /// A GET (or, with a body, a JSON POST) to a node; nil if it does not answer; `json` nil if the
    /// answer is not a JSON object.
    static func request(_ url: String, token: String?, body: Data? = nil, timeout: TimeAmount = .seconds(30)) async
        -> (status: Int, json: [String: Any]?)? {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any])
        } catch { return nil }
    }
}
