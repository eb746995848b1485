public import AsyncHTTPClient
import Foundation
public import Contracts
public import LedgerCore
public import Node
public import NIOCore
import NIOHTTP1
public import NIOSSL
import Ordering
import Storage

/// Private payloads between the nodes of a consortium (`PrivateEnvelope`): the answer a node gives
/// another organization's node asking for one, and the peer source a node fetches them from.
public enum PrivatePayloads {
    /// Header naming the requesting organization (its identity id, hex).
    public static let organizationHeader = "CareLedger-Organization"
    /// Header with the request's time (ms since the epoch).
    public static let timeHeader = "CareLedger-Time"
    /// Header with the organization's Ed25519 signature (base64) over `PeerRequest.signedMessage`.
    public static let signatureHeader = "CareLedger-Signature"

    /// A GET of `url` carrying `resource`'s request signed by `organization` (the three headers).
    public static func signedRequest(_ url: String, resource: String, chainId: String, organization: IdentityKeys, timeMs: Int64,
                              tls: TLSConfiguration? = nil) -> HTTPClientRequest {
        let request = PeerRequest.sign(chainId: chainId, resource: resource, organization: organization, timeMs: timeMs)
        var http = HTTPClientRequest(url: url)
        http.tlsConfiguration = tls
        http.headers.add(name: organizationHeader, value: request.organization.hex)
        http.headers.add(name: timeHeader, value: String(request.timeMs))
        http.headers.add(name: signatureHeader, value: Base64.encode(request.signature))
        return http
    }

    /// The organization a node-to-node request comes from, if it is signed with the current key of
    /// an active organization of this node's chain, for `resource`, within a minute of `nowMs`.
    public static func authenticate(_ request: PeerRequest, resource: String, node: LedgerNode, nowMs: Int64) throws(ServiceError) -> Identity {
        guard request.chainId == node.chainId else { throw .forbidden("this node serves chain \(node.chainId), not \(request.chainId)") }
        guard request.resource == resource else { throw .forbidden("the request is signed for \(request.resource), not \(resource)") }
        guard abs(request.timeMs - nowMs) <= PeerRequest.clockSkewMsMax else {
            throw .forbidden("the request's time is more than \(PeerRequest.clockSkewMsMax / 1_000) s from this node's clock")
        }
        guard let organization = Directory.identity(request.organization, in: node.state), organization.kind == .organization,
              !organization.revoked, request.isSigned(by: organization.signingKey) else {
            throw .forbidden("the request is not signed with the registered key of an active organization")
        }
        return organization
    }

    /// Answers another organization's node asking for the private payload of transaction `id`.
    /// Released only if the request is authenticated (`authenticate`), for a private call committed
    /// here whose envelope names the requesting organization, and this node holds the payload.
    /// Before the bytes leave, the release is written to the access log (a decision about the
    /// patient the payload names, if it names one).
    public static func release(_ request: PeerRequest, transaction id: Hash256, node: LedgerNode, access: AccessService?, nowMs: Int64)
        async throws(ServiceError) -> [UInt8] {
        _ = try authenticate(request, resource: PeerRequest.privatePayload(id), node: node, nowMs: nowMs)
        let stored: [UInt8]?
        let envelope: PrivateEnvelope?
        do {
            let location = try node.store.location(of: id)
            envelope = try location.flatMap { try node.store.transactionBytes(logIndex: $0.logIndex) }
                .flatMap { try? Transaction(decoding: $0) }.flatMap(node.privateEnvelope)
            stored = try (node.store as? any PrivatePayloadStore)?.privatePayloads([id])[id]
        } catch {
            throw ServiceError(.unavailable, "the store could not be read: \(error)")
        }
        guard let envelope else { throw .notFound("no private call \(id.hex) is committed on this node") }
        guard envelope.organizations.contains(request.organization) else {
            throw .forbidden("the payload of \(id.hex) does not go to organization \(request.organization.hex)")
        }
        guard let stored, let payload = try? envelope.open(stored) else {
            throw .notFound("this node does not hold the payload of \(id.hex)")
        }
        if let patient = payload.args["patient"]?.bytesValue.flatMap(Hash256.init(bytes:)) {
            guard let access else { throw ServiceError(.unavailable, "this node keeps no access log, so it releases no patient's data") }
            do {
                try await access.logObjectReads([ObjectRead(requester: request.organization, patient: patient, object: id,
                                                             purpose: .payment, permitted: true)])
            } catch {
                throw ServiceError(.unavailable, "the release cannot be logged, so nothing is released: \(error)")
            }
        }
        return stored
    }
}

/// Fetches private payloads from the other organizations' nodes (`PeerDirectory`: signed
/// requests over mutual TLS). What comes back is checked by the node against the chain.
public final class PeerPrivateDataSource: PrivateDataSource {
    let directory: PeerDirectory

    /// Longest wait for one peer's answer.
    public static let requestTimeout: TimeAmount = .seconds(5)

    public init(directory: PeerDirectory) { self.directory = directory }

    public func fetch(_ id: Hash256, from organization: IdentityID) async -> [UInt8]? {
        guard let answer = try? await directory.get("/v1/private/" + id.hex, resource: PeerRequest.privatePayload(id), from: organization,
                                                    timeout: Self.requestTimeout, bodyLimit: PrivatePayload.encodedBytesMax + 1_024),
              answer.status == 200 else { return nil }
        return Array(buffer: answer.body)
    }
}
