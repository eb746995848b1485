import AsyncHTTPClient
public import Contracts
import Foundation
public import LedgerCore
public import Node
import NIOCore
import NIOHTTP1
import Storage
import Vault

/// A record held by another organization, read through one's own node: the reading organization's
/// node asks the custodian's node (`GET /v1/peer/records/{id}/release`, signed with the reading
/// organization's key), and the custodian decides on its own replica of the chain, writes the
/// decision to its access log, and returns the ciphertext with the data key wrapped to the
/// requester — exactly as for its own requesters. The ciphertext is opened only by the requester.
public enum PeerRecords {
    /// The resource a release request is signed for.
    public static func resource(_ record: Hash256, requester: IdentityID, purpose: Purpose) -> String {
        "records/\(record.hex)/release/\(requester.hex)/\(purpose.rawValue)"
    }

    /// The custodian's answer to another organization's node: the request signed by that
    /// organization (`PrivatePayloads.authenticate`), for itself or one of its own active members;
    /// then the consent decision, logged before anything is released. A refusal looks like a
    /// missing record (as on the custodian's own API). `seenHeight` is the asking node's height:
    /// what the requester may have seen there (a consent it just granted) is decided on only once
    /// this node has committed that far, or after `seenWaitMs` (then on what it has).
    public static func release(_ request: PeerRequest, record: Hash256, requester: IdentityID, purpose: Purpose, node: LedgerNode,
                               access: AccessService, nowMs: Int64, seenHeight: UInt64 = 0) async throws(ServiceError) -> JSONObject {
        let organization = try PrivatePayloads.authenticate(request, resource: resource(record, requester: requester, purpose: purpose),
                                                            node: node, nowMs: nowMs)
        _ = await node.waitForHeight(seenHeight, timeoutMs: seenWaitMs)  // then on what it has (documented above)
        guard let member = Directory.identity(requester, in: node.state), !member.revoked,
              member.id == organization.id || member.organization == organization.id else {
            throw .forbidden("\(requester.hex) is not an active member of organization \(organization.id.hex)")
        }
        do {
            return releaseJSON(try await access.read(AccessRequest(requester: requester, record: record, purpose: purpose, action: .read)))
        } catch {
            switch error {
            case .denied: throw .notFound("no record \(record.hex) visible to you: not known here, or no consent lets you read it")
            case .auditUnavailable: throw ServiceError(.unavailable, error.description)
            default: throw ServiceError(.unavailable, "the release failed: \(error)")
            }
        }
    }

    /// Longest a custodian's node waits to reach the asking node's height before it decides.
    public static let seenWaitMs = 2_000

    /// A release as the API shows it: the entry, the decision, where it is in the access log, the
    /// ciphertext and the data key wrapped for the requester.
    public static func releaseJSON(_ release: RecordRelease) -> JSONObject {
        [
            "record": AccessService.recordJSON(release.entry),
            "decision": ["outcome": release.decision.outcome.rawValue, "reason": release.decision.reason.rawValue],
            "audit_index": release.auditIndex, "sealed_record": Base64.encode(release.blob.bytes),
            "wrapped_key": Base64.encode(release.wrappedKey.bytes),
            "note": "decrypt: unwrap wrapped_key with your X25519 key (HPKE, info bound to record, version, recipient), then AES-256-GCM open",
        ]
    }

    /// A read at the reading organization's node: nil when this node holds the record's custodian
    /// (it answers itself); otherwise the custodian's node's answer through `peer`.
    public static func read(_ record: Hash256, requester: IdentityID, purpose: Purpose, node: LedgerNode, access: AccessService,
                            peer: (any RecordPeer)?) async throws(ServiceError) -> JSONObject? {
        guard let peer, let entry = RecordIndex.current(record, in: node.state), access.custodianKeys(entry.custodian) == nil else { return nil }
        return try await peer.release(record, requester: requester, purpose: purpose, custodian: entry.custodian, seenHeight: node.height)
    }
}

/// Where a node asks for a record another organization holds.
public protocol RecordPeer: Sendable {
    /// The custodian's node's answer (`PeerRecords.release`); `seenHeight` is the asking node's height.
    func release(_ record: Hash256, requester: IdentityID, purpose: Purpose, custodian: IdentityID, seenHeight: UInt64) async throws(ServiceError)
        -> JSONObject
}

extension PeerPrivateDataSource: RecordPeer {
    /// Most bytes of a custodian's answer: a record's ciphertext (base64) and its envelope.
    static let recordAnswerBytesMax = 64 * 1024 * 1024

    public func release(_ record: Hash256, requester: IdentityID, purpose: Purpose, custodian: IdentityID, seenHeight: UInt64) async throws(ServiceError)
        -> JSONObject {
        let resource = PeerRecords.resource(record, requester: requester, purpose: purpose)
        let answer: (status: Int, body: ByteBuffer)
        do {
            answer = try await directory.get("/v1/peer/records/\(record.hex)/release?requester=\(requester.hex)&purpose=\(purpose.rawValue)&seen=\(seenHeight)",
                                             resource: resource, from: custodian, timeout: Self.requestTimeout, bodyLimit: Self.recordAnswerBytesMax)
        } catch {
            throw ServiceError(.unavailable, "the custodian's node does not answer: \(error)")
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: answer.body)))) as? JSONObject ?? [:]
        switch answer.status {
        case 200: return json
        case 404: throw .notFound(json["message"] as? String ?? "no record \(record.hex) visible to you")
        case 403: throw .forbidden(json["message"] as? String ?? "the custodian's node refused")
        default: throw ServiceError(.unavailable, "the custodian's node answered \(answer.status): \(json["message"] as? String ?? "")")
        }
    }
}
