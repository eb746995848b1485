import AsyncHTTPClient
import Foundation
public import LedgerCore
public import NIOCore
import NIOHTTP1
import NIOSSL
public import Ordering
import Synchronization

/// The other organizations' nodes as a node reaches them: the peer registry in etcd
/// (`careledger/CHAIN/peer/ORGANIZATION` → `PeerEndpoint`, each node publishing its own at start)
/// and the GETs a node makes there — signed with its organization's key (`PeerRequest`), over mutual
/// TLS with the certificate the organization published, checked against the key this node's replica
/// holds for it (`PeerEndpoint.tls`). Private payloads, records and blocks all go through it.
public final class PeerDirectory: Sendable {
    private let etcd: EtcdClient
    private let chainId: String
    private let keys: IdentityKeys
    private let clock: any LedgerClock
    private let tls: PeerTLS?
    /// An organization's current registered key in this node's replica, if it is an active organization.
    private let organizationKey: @Sendable (IdentityID) -> SigningPublicKey?
    private let endpoints = Mutex<[IdentityID: PeerEndpoint]>([:])

    /// `tls` nil: plain HTTP peers (single-process tests only; a consortium made by
    /// `Consortium.create` always has mutual TLS).
    public init(etcd: EtcdClient, chainId: String, organizationKeys: IdentityKeys, clock: any LedgerClock, tls: PeerTLS? = nil,
                organizationKey: @escaping @Sendable (IdentityID) -> SigningPublicKey?) {
        (self.etcd, self.chainId, self.keys, self.clock, self.tls, self.organizationKey) =
            (etcd, chainId, organizationKeys, clock, tls, organizationKey)
    }

    /// The etcd key prefix of the registry.
    static func prefix(chainId: String) -> [UInt8] { Array("careledger/\(chainId)/peer/".utf8) }

    /// The etcd key holding an organization's endpoint.
    public static func key(chainId: String, organization: IdentityID) -> [UInt8] { prefix(chainId: chainId) + Array(organization.hex.utf8) }

    /// Publishes this node's endpoint (its peer URL and, with TLS, its certificate) for the other nodes.
    public func register(url: String) async throws {
        _ = try await etcd.put(Self.key(chainId: chainId, organization: keys.derivedID), PeerEndpoint(url: url, certificateDER: tls?.certificateDER).encoded)
    }

    /// The other organizations registered, read from etcd now (and remembered for `get`).
    func others() async throws -> [IdentityID] {
        let prefix = Self.prefix(chainId: chainId)
        let found = try await etcd.range(prefix: prefix, limit: 100).values.compactMap { value -> (IdentityID, PeerEndpoint)? in
            guard let organization = Hash256(hex: String(decoding: value.key.dropFirst(prefix.count), as: UTF8.self)),
                  organization != keys.derivedID, let endpoint = PeerEndpoint(decoding: value.value) else { return nil }
            return (organization, endpoint)
        }
        endpoints.withLock { known in for (organization, endpoint) in found { known[organization] = endpoint } }
        return found.map(\.0)
    }

    /// A GET of `path` on `organization`'s node, signed for `resource` with this node's organization
    /// key, over mutual TLS with the certificate that node published: its status and body (at most
    /// `bodyLimit` bytes). Throws if the organization is not registered, its certificate does not
    /// hold its key, or its node does not answer; its endpoint is then looked up again next time,
    /// as after an answer other than 200, 403 or 404 (the node may have moved).
    func get(_ path: String, resource: String, from organization: IdentityID, timeout: TimeAmount, bodyLimit: Int) async throws
        -> (status: Int, body: ByteBuffer) {
        let answer = try await send(path, body: nil, resource: resource, to: organization, timeout: timeout, bodyLimit: bodyLimit)
        return (answer.status, answer.body)
    }

    /// `get`, with the answer's headers.
    func getWithHeaders(_ path: String, resource: String, from organization: IdentityID, timeout: TimeAmount, bodyLimit: Int) async throws
        -> (status: Int, body: ByteBuffer, headers: HTTPHeaders) {
        try await send(path, body: nil, resource: resource, to: organization, timeout: timeout, bodyLimit: bodyLimit)
    }

    /// A POST of `body` to `path`, signed for `resource` (which names the body's hash), as `get`.
    func post(_ path: String, body: [UInt8], resource: String, to organization: IdentityID, timeout: TimeAmount, bodyLimit: Int) async throws
        -> (status: Int, body: ByteBuffer) {
        let answer = try await send(path, body: body, resource: resource, to: organization, timeout: timeout, bodyLimit: bodyLimit)
        return (answer.status, answer.body)
    }

    private func send(_ path: String, body: [UInt8]?, resource: String, to organization: IdentityID, timeout: TimeAmount, bodyLimit: Int)
        async throws -> (status: Int, body: ByteBuffer, headers: HTTPHeaders) {
        do {
            guard let endpoint = try await endpoint(of: organization) else {
                throw PeerEndpoint.Refusal(description: "organization \(organization.hex.prefix(12))… registered no node")
            }
            var request = PrivatePayloads.signedRequest(endpoint.url + path, resource: resource, chainId: chainId, organization: keys,
                                                        timeMs: clock.nowMs(),
                                                        tls: try endpoint.tls(with: tls, organization: organization, key: organizationKey(organization)))
            if let body {
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response = try await EtcdClient.sharedHTTP.execute(request, timeout: timeout)
            let answer = try await response.body.collect(upTo: bodyLimit)
            if ![.ok, .notFound, .forbidden, .conflict, .unprocessableEntity].contains(response.status) { forget(organization) }
            return (Int(response.status.code), answer, response.headers)
        } catch {
            forget(organization)
            throw error
        }
    }

    private func forget(_ organization: IdentityID) { endpoints.withLock { $0[organization] = nil } }

    private func endpoint(of organization: IdentityID) async throws -> PeerEndpoint? {
        if let known = endpoints.withLock({ $0[organization] }) { return known }
        let key = Self.key(chainId: chainId, organization: organization)
        guard let value = try await etcd.range(prefix: key, limit: 1).values.first(where: { $0.key == key })?.value,
              let endpoint = PeerEndpoint(decoding: value) else { return nil }
        endpoints.withLock { $0[organization] = endpoint }
        return endpoint
    }
}
