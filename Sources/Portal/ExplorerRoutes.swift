import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services
import Storage

/// The auditor's explorer: the signed tree head, the newest blocks and transactions (what the
/// signed-in identity may see of them, through `/v1/txs`' own view), and proof bundles for the
/// browser to verify.
enum ExplorerRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("explorer") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else { return PortalPages.redirect("\(Portal.basePath)/sign-in") }
            let head = await backend.node.headHeader
            let before: UInt64
            if let text = request.uri.queryParameters["before"] {
                guard let value = UInt64(text), value <= head.logSize else {
                    throw PortalRefusal(status: 400, message: "before must be a log index from 0 to \(head.logSize)")
                }
                before = value
            } else {
                before = head.logSize
            }
            let view = await backend.view()
            let store = backend.node.store
            let page = try view.recentTransactions(in: store, before: before, limit: PortalLimits.transactionsPerPage, requester: signedIn.identity)
            var blocks: [[String: Any]] = []
            var height = head.height
            while blocks.count < PortalLimits.blocksShown, let header = try store.header(height: height) {
                var block = LedgerView.block(header)
                block["time"] = iso8601(header.timeMs)
                blocks.append(block)
                guard height > 0 else { break }
                height -= 1
            }
            var sth = SignedTreeHead.json(head, keys: backend.nodeKeys)
            sth["time"] = iso8601(head.timeMs)
            var values = Portal.layout(backend, signedIn)
            values["explorer"] = true
            values["sth"] = sth
            values["logKey"] = Data(backend.nodeKeys.signingPublicKey.rawValue).base64EncodedString()
            values["transactions"] = page.transactions
            values["blocks"] = blocks
            values["vectorCount"] = vectorCount
            if let next = page.next { values["older"] = next }
            if before < head.logSize { values["newer"] = true }
            return PortalPages.html(PortalPages.render("explorer", values))
        }
        group.get("explorer/proof") { request, _ in
            guard await Portal.signedIn(request, backend) != nil else {
                return Portal.json(["error": "invalid_session", "message": "sign in again: the session has ended"], status: .unauthorized)
            }
            do { return Portal.json(try await proofBundle(request, backend)) } catch {
                let refusal = SignInRoutes.refusal(error)
                return Portal.json(["error": "bad_request", "message": refusal.message], status: HTTPResponse.Status(code: refusal.status))
            }
        }
    }

    /// The proofs for one leaf against the current head, all at one tree size: the signed tree head
    /// and the node's key (as `/v1/log/sth` and `/v1/log/key`), the inclusion proof (as
    /// `/v1/log/proof-by-hash`) and a consistency proof from `first` (as `/v1/log/consistency`;
    /// default: the tree size after the leaf's block).
    static func proofBundle(_ request: Request, _ backend: PortalBackend) async throws(PortalRefusal) -> [String: Any] {
        let head = await backend.node.headHeader
        let store = backend.node.store
        guard let text = request.uri.queryParameters["leaf"], let leaf = base64Hash(String(text)) else {
            throw PortalRefusal(status: 400, message: "leaf must be a base64 SHA-256 leaf hash")
        }
        do {
            guard let index = try store.logIndex(ofLeafHash: leaf), index < head.logSize else {
                throw PortalRefusal(status: 404, message: "no transaction in the log has that leaf hash")
            }
            let builder = MerkleProofBuilder(source: store)
            let first: UInt64, source: String
            if let text = request.uri.queryParameters["first"] {
                guard let value = UInt64(text), (1...head.logSize).contains(value) else {
                    throw PortalRefusal(status: 400, message: "first must be a tree size from 1 to \(head.logSize)")
                }
                (first, source) = (value, "the tree head of size \(value)")
            } else {
                guard let bytes = try store.transactionBytes(logIndex: index), let location = try store.location(of: try Transaction(decoding: bytes).id),
                      let block = try store.header(height: location.height) else {
                    throw PortalRefusal(status: 404, message: "the leaf's block is missing")
                }
                (first, source) = (block.logSize, "block \(block.height)'s tree head")
            }
            return [
                "chain_id": head.chainId,
                "log_key": ["node": backend.nodeKeys.derivedID.hex, "ed25519": Data(backend.nodeKeys.signingPublicKey.rawValue).base64EncodedString()],
                "sth": SignedTreeHead.json(head, keys: backend.nodeKeys),
                "inclusion": ["leaf_hash": leaf.base64, "leaf_index": index, "tree_size": head.logSize,
                              "audit_path": try builder.inclusionProof(index: index, size: head.logSize).map(\.base64)],
                "consistency": ["first": first, "first_root": try builder.root(size: first).base64, "first_source": source, "second": head.logSize,
                                "proof": try builder.consistencyProof(first: first, second: head.logSize).map(\.base64)],
            ]
        } catch let refusal as PortalRefusal {
            throw refusal
        } catch {
            throw PortalRefusal(status: 503, message: "the proofs could not be built: \(error)")
        }
    }

    /// How many cases the verifier's vector file holds (shown on the page).
    static let vectorCount: Int = {
        guard let object = try? JSONSerialization.jsonObject(with: Data(PortalPages.vectors)) as? [String: Any] else { return 0 }
        return ["leaves", "inclusion", "consistency", "tree_heads"].reduce(0) { $0 + ((object[$1] as? [Any])?.count ?? 0) }
    }()

    /// A base64 (standard or URL-safe) SHA-256 hash.
    static func base64Hash(_ text: String) -> Hash256? {
        var normalized = text.replacingOccurrences(of: " ", with: "+").replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while normalized.count % 4 != 0 { normalized += "=" }
        return Data(base64Encoded: normalized).flatMap { Hash256(bytes: Array($0)) }
    }

    static func iso8601(_ timeMs: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(timeMs) / 1_000))
    }
}
