import Contracts
import Foundation
import Hummingbird
import LedgerCore
import NIOCore
import Node
import Services
import Storage

/// The transaction log over HTTP: Certificate Transparency's JSON shapes (RFC 6962 §4) for tree
/// heads and proofs, plus transactions, blocks and identities. Proofs are RFC 9162 proofs over
/// leaves SHA-256(0x00 ‖ canonical transaction bytes), so anyone with these endpoints and RFC 9162
/// can check that a transaction is in the log.
enum LogRoutes {
    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("log/sth") { _, _ in
            let head = await services.node.headHeader
            return JSON.response(SignedTreeHead.json(head, keys: services.nodeKeys))
        }
        // The tree head a quorum of organizations attested: what an outsider checks in a consortium.
        group.get("log/attested-sth") { _, _ in
            let finalHeight = services.node.finalHeight
            guard let header = try services.store.header(height: finalHeight) else { throw APIError.notFound("no block at height \(finalHeight)") }
            let attestations = try ((services.store as? any AttestationStore)?.attestations(height: finalHeight) ?? []).filter { $0.values == Attestation.Values(header) }
            return JSON.response([
                "height": header.height, "tree_size": header.logSize, "timestamp": header.timeMs, "sha256_root_hash": header.logRoot.base64,
                "block_hash": header.hash.hex, "state_root": header.stateRoot.hex, "quorum": await services.node.finalityStatus.quorum,
                "attestations": attestations.map { attestation -> [String: Any] in
                    ["attester": attestation.attester.hex, "signature": Data(attestation.signature).base64EncodedString(),
                     "signed_message": Data(attestation.signedMessage).base64EncodedString()]
                },
            ])
        }
        group.get("log/key") { _, _ in
            JSON.response(["node": services.nodeKeys.derivedID.hex, "ed25519": Data(services.nodeKeys.signingPublicKey.rawValue).base64EncodedString(),
                           "signature_scheme": "ed25519 (0x0807)", "signed": "RFC 6962 §3.5 TreeHeadSignature: version 0, type 1, timestamp, tree_size, root"])
        }
        group.get("log/proof-by-hash") { request, _ in
            let head = await services.node.headHeader
            guard let text = request.query("hash") else { throw APIError.badRequest("query parameter hash (base64 leaf hash) is required") }
            guard let leaf = base64Hash(text) else { throw APIError.badRequest("hash must be a base64 SHA-256 leaf hash") }
            let size = try request.integer("tree_size", in: 1...max(1, head.logSize))
            guard size <= head.logSize else { throw APIError.badRequest("tree_size is larger than the log (\(head.logSize))") }
            guard let index = try services.store.logIndex(ofLeafHash: leaf) else { throw APIError.notFound("no transaction has leaf hash \(text)") }
            guard index < size else { throw APIError.badRequest("leaf \(index) is not in a tree of size \(size)") }
            let proof = try MerkleProofBuilder(source: services.store).inclusionProof(index: index, size: size)
            return JSON.response(["leaf_index": index, "audit_path": proof.map(\.base64)])
        }
        group.get("log/consistency") { request, _ in
            let head = await services.node.headHeader
            let first = try request.integer("first", in: 1...max(1, head.logSize))
            let second = try request.integer("second", in: 1...max(1, head.logSize))
            guard first <= second else { throw APIError.badRequest("first must not exceed second") }
            let proof = try MerkleProofBuilder(source: services.store).consistencyProof(first: first, second: second)
            return JSON.response(["consistency": proof.map(\.base64)])
        }
        group.get("txs") { request, context in
            let requester = try context.requester()
            let view = await services.view()
            let head = await services.node.headHeader
            let limit = Int(try request.integer("limit", in: 1...UInt64(ServerLimits.transactionsPageMax), default: 20))
            let before = try request.integer("before", in: 0...head.logSize, default: head.logSize)
            let page = try view.recentTransactions(in: services.store, before: before, limit: limit, requester: requester)
            var body: [String: Any] = ["transactions": page.transactions, "tree_size": head.logSize]
            if let next = page.next { body["next"] = "/v1/txs?limit=\(limit)&before=\(next)" }
            return JSON.response(body)
        }
        group.get("txs/:id") { _, context in
            let (transaction, location) = try committed(context, services)
            let view = await services.view()
            return JSON.response(view.transaction(transaction, location: location, requester: try context.requester(), detail: true))
        }
        group.get("txs/:id/raw") { _, context in
            let (transaction, _) = try committed(context, services)
            let view = await services.view()
            let requester = try context.requester()
            let bytes: [UInt8]
            do throws(ServiceError) { bytes = try view.transactionBytes(transaction, requester: requester) } catch { throw APIError(error) }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        group.post("txs") { request, _ in try await submit(request, services) }
        group.post("endorse") { request, context in try await endorse(request, context, services) }
        group.get("blocks/:height") { _, context in
            guard let text = context.parameters.get("height"), let height = UInt64(text) else {
                throw APIError.badRequest("block height must be a non-negative integer")
            }
            guard let header = try services.store.header(height: height) else { throw APIError.notFound("no block at height \(height)") }
            return JSON.response(LedgerView.block(header))
        }
        group.get("blocks/head") { _, _ in
            let head = await services.node.headHeader
            return JSON.response(LedgerView.block(head))
        }
        group.get("identities/:id") { _, context in
            guard let id = context.parameters.get("id").flatMap(Hash256.init(hex:)) else {
                throw APIError.badRequest("identity id must be 64 hex characters")
            }
            guard let identity = Directory.identity(id, in: services.state) else { throw APIError.notFound("no identity \(id.hex)") }
            return JSON.response(identityJSON(identity))
        }
        group.get("identities/me") { _, context in
            // One's own next sequence number (after what is committed), for signing one's own transactions.
            let me = try context.requester()
            var json = identityJSON(me)
            json["next_sequence"] = BlockExecutor.lastSequence(of: me.id, in: services.state) + 1
            return JSON.response(json)
        }
    }

    /// A base64 (standard or URL-safe; `+` may arrive as a space) SHA-256 hash.
    static func base64Hash(_ text: String) -> Hash256? {
        var normalized = text.replacingOccurrences(of: " ", with: "+").replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while normalized.count % 4 != 0 { normalized += "=" }
        return Data(base64Encoded: normalized).flatMap { Hash256(bytes: Array($0)) }
    }

    static func committed(_ context: LedgerRequestContext, _ services: ServerServices) throws -> (Transaction, TransactionLocation) {
        guard let id = context.parameters.get("id").flatMap(Hash256.init(hex:)) else {
            throw APIError.badRequest("transaction id must be 64 hex characters")
        }
        guard let location = try services.store.location(of: id), let bytes = try services.store.transactionBytes(logIndex: location.logIndex) else {
            throw APIError.notFound("no committed transaction \(id.hex)")
        }
        return (try Transaction(decoding: bytes), location)
    }


    /// `POST /v1/txs`: a signed transaction as raw canonical bytes (application/octet-stream) or
    /// JSON `{"transaction": "<base64>"}` (a private call adds `"private": "<base64 payload>"`,
    /// which stays on this node and its collection's); `?wait=true` answers once it is durably committed, with
    /// its inclusion proof.
    static func submit(_ request: Request, _ services: ServerServices) async throws -> Response {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        let body = try await request.collectBody(upTo: Limits.transactionBytesMax * 2 + 1_024)
        let bytes: [UInt8]
        var payload: [UInt8]?
        if contentType.hasPrefix("application/octet-stream") {
            bytes = Array(buffer: body)
        } else if contentType.hasPrefix("application/json") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(Array(buffer: body))) as? [String: Any],
                  let text = object["transaction"] as? String, let data = Data(base64Encoded: text) else {
                throw APIError.badRequest("send {\"transaction\": \"<base64 of the signed canonical bytes>\"}")
            }
            bytes = Array(data)
            if let value = object["private"] {
                guard let text = value as? String, let data = Data(base64Encoded: text) else {
                    throw APIError.badRequest("“private” is the base64 of the private payload's canonical bytes")
                }
                payload = Array(data)
            }
        } else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send application/octet-stream or application/json")
        }
        let wait = try waitMode(request)
        let timeoutMs = Int(try request.integer("timeout_ms", in: 1...UInt64(ServerLimits.commitWaitMsMax), default: 10_000))
        guard let result = await services.node.submit(bytes: [bytes], payloads: [payload]).first else { throw APIError.badRequest("empty submission") }
        let id: Hash256
        switch result {
        case .success(let admitted): id = admitted
        case .failure(let error):
            let status: HTTPResponse.Status = switch error {
            case .invalid, .privatePayload: .badRequest
            case .rejected: .unprocessableContent
            case .duplicate: .conflict
            case .mempoolFull, .stopping, .orderingUnavailable: .serviceUnavailable
            }
            throw APIError(status, error.code, error.description)
        }
        guard let wait else { return JSON.response(["id": id.hex, "status": "pending"], status: .accepted) }
        do {
            _ = try await services.node.awaitCommit(id, timeoutMs: timeoutMs)
        } catch {
            return JSON.response(["id": id.hex, "status": "pending", "message": "not committed within \(timeoutMs) ms"], status: .accepted)
        }
        var status = "committed"
        if wait == .final {
            do {
                _ = try await services.node.awaitFinal(id, timeoutMs: timeoutMs)
                status = "final"
            } catch {
                return JSON.response(["id": id.hex, "status": "committed",
                                      "message": "committed, but not attested by a quorum of organizations within \(timeoutMs) ms"], status: .accepted)
            }
        }
        let receipt = try await services.node.receipt(for: id)
        return JSON.response([
            "id": id.hex, "status": status, "height": receipt.status.height, "log_index": receipt.status.logIndex,
            "final": receipt.status.height <= services.node.finalHeight,
            "result": LedgerView.resultJSON(receipt.status.result), "leaf_hash": receipt.leafHash.base64, "tree_size": receipt.treeSize,
            "sha256_root_hash": receipt.rootHash.base64, "audit_path": receipt.inclusionProof.map(\.base64),
        ], status: receipt.status.result.isAccepted ? .ok : .unprocessableContent)
    }

    /// `POST /v1/endorse`: JSON `{"transaction": "<base64>", "private": "<base64 payload>"}`, the
    /// requester's own call with its private envelope as arguments (its signature is not checked:
    /// the call is signed once its endorsement is its arguments). On a consortium node of one of the
    /// organizations the envelope names, it is simulated here and at the others' nodes, which sign
    /// the same outcome; the answer's `args` (base64 canonical bytes) are what the client signs and
    /// posts to `/v1/txs` with the same sequence number and `"private"` payload.
    static func endorse(_ request: Request, _ context: LedgerRequestContext, _ services: ServerServices) async throws -> Response {
        let requester = try context.requester()
        let body = try await request.collectBody(upTo: Limits.transactionBytesMax * 2 + 1_024)
        guard let object = try? JSONSerialization.jsonObject(with: Data(Array(buffer: body))) as? [String: Any],
              let draftBytes = (object["transaction"] as? String).flatMap({ Data(base64Encoded: $0) }),
              let payloadBytes = (object["private"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            throw APIError.badRequest("send {\"transaction\": \"<base64 of the call's canonical bytes>\", \"private\": \"<base64 of its payload>\"}")
        }
        let draft: Transaction, payload: PrivatePayload
        do {
            draft = try Transaction(decoding: Array(draftBytes))
            payload = try PrivatePayload(decoding: Array(payloadBytes))
        } catch { throw APIError.badRequest("\(error)") }
        guard draft.body.sender == requester.id else { throw APIError.forbidden("endorse your own calls: the call's sender is not you") }
        guard let endorser = services.endorser else {
            throw APIError(.conflict, "not_consortium", "this node is not a consortium node: it takes every call in the clear, with no endorsement")
        }
        let endorsed: EndorsedCall
        do { endorsed = try await endorser.endorse(EndorsementRequest(draft: Transaction.draft(draft.body), payload: payload), node: services.node) } catch {
            throw APIError.of(error)
        }
        let id = EndorsedCall.callID(chainId: draft.body.chainId, sender: draft.body.sender, sequence: draft.body.sequence, envelope: endorsed.envelope)
        return JSON.response([
            "args": Data(endorsed.args.encoded).base64EncodedString(), "call_id": id.hex, "sequence": draft.body.sequence,
            "organizations": endorsed.signatures.map(\.organization.hex), "simulated_height": endorsed.proposal.height,
            "simulated_time_ms": endorsed.proposal.timeMs, "reads": endorsed.proposal.reads.count, "shared_writes": endorsed.proposal.writes.count,
        ])
    }

    enum Wait { case committed, final }

    /// `wait`: absent or false, true or committed, final.
    static func waitMode(_ request: Request) throws(APIError) -> Wait? {
        switch request.query("wait") {
        case nil, "false": nil
        case "true", "committed": .committed
        case "final": .final
        case let text?: throw .badRequest("wait must be committed (or true), final or false, got “\(text.prefix(40))”")
        }
    }

    static func identityJSON(_ identity: Identity) -> [String: Any] {
        var out: [String: Any] = [
            "id": identity.id.hex, "kind": identity.kind.rawValue, "roles": identity.roles.map(\.rawValue), "revoked": identity.revoked,
            "signing_key": Hex.encode(identity.signingKey.rawValue), "agreement_key": Hex.encode(identity.agreementKey),
            "registered_height": identity.registeredHeight,
        ]
        if !identity.label.isEmpty { out["label"] = identity.label }
        if let organization = identity.organization { out["organization"] = organization.hex }
        if let type = identity.organizationType { out["organization_type"] = type.rawValue }
        return out
    }
}
