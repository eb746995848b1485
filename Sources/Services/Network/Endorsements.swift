import Contracts
import Foundation
public import LedgerCore
public import NIOCore
public import Node

/// A request to endorse a private call: the call as it will be signed but with its envelope's
/// arguments and no signature (`Transaction.draft`), its payload, and — when one node asks another
/// — the proposal the asking node's simulation produced, which the answer must match.
public struct EndorsementRequest: Sendable, Equatable {
    public let draft: Transaction
    public let payload: PrivatePayload
    public let proposal: Proposal?

    /// Largest encoding: a transaction, its payload and a proposal's reads and writes.
    public static let encodedBytesMax = 4 * Limits.transactionBytesMax

    public init(draft: Transaction, payload: PrivatePayload, proposal: Proposal? = nil) {
        (self.draft, self.payload, self.proposal) = (draft, payload, proposal)
    }

    /// The draft's envelope, if its arguments are one.
    public var envelope: PrivateEnvelope? { PrivateEnvelope(args: draft.body.args) }

    /// Canonical bytes: {"draft", "payload", "proposal"}.
    public var encoded: [UInt8] {
        CanonicalValue.map(["draft": .bytes(draft.bytes), "payload": .bytes(payload.encoded), "proposal": proposal?.canonical ?? .null]).encoded
    }

    public init(decoding bytes: [UInt8]) throws(ServiceError) {
        guard bytes.count <= Self.encodedBytesMax else { throw ServiceError("an endorsement request is at most \(Self.encodedBytesMax) bytes") }
        guard let value = try? CanonicalValue(decoding: bytes), let map = value.mapValue, map.count == 3,
              let draftBytes = map["draft"]?.bytesValue, let draft = try? Transaction(decoding: draftBytes),
              let payloadBytes = map["payload"]?.bytesValue, let payload = try? PrivatePayload(decoding: payloadBytes),
              let proposalValue = map["proposal"] else {
            throw ServiceError("an endorsement request is the canonical map {draft, payload, proposal}")
        }
        var proposal: Proposal?
        if proposalValue != .null {
            guard let parsed = Proposal(canonical: proposalValue) else { throw ServiceError("the request's proposal is malformed") }
            proposal = parsed
        }
        self.init(draft: draft, payload: payload, proposal: proposal)
    }
}

/// The other organizations' nodes, as the node proposing an endorsed call asks them.
public protocol EndorsementPeers: Sendable {
    /// `organization`'s node's signature over `request`'s call and proposal; throws why it gave none.
    func endorse(_ request: EndorsementRequest, by organization: IdentityID) async throws -> [UInt8]
}

/// Endorsed private calls on a consortium node (`EndorsedCall`): the node a client sends one to
/// simulates it, signs with its organization's key and collects the signatures of the other
/// organizations the call names, whose nodes simulate it too and sign only the same outcome.
public final class Endorser: Sendable {
    public let organizationKeys: IdentityKeys
    let peers: any EndorsementPeers

    public init(organizationKeys: IdentityKeys, peers: any EndorsementPeers) { (self.organizationKeys, self.peers) = (organizationKeys, peers) }

    /// The proposing node: simulates `request`'s call as of its next block and returns it endorsed
    /// by every organization it names, ready for the client to sign as its arguments. A call the
    /// contract would refuse is thrown as `Refused`; a peer that does not sign, as unavailable.
    /// A node that answers that its replica gives another outcome (it is at another height) is
    /// asked again, with a new simulation, up to this many times in all.
    public static let attemptsMax = 4
    /// Longest an asked node waits to reach the height a call was simulated for.
    public static let catchUpWaitMs = 2_000

    public func endorse(_ request: EndorsementRequest, node: LedgerNode) async throws -> EndorsedCall {
        var attempt = 1
        while true {
            do { return try await endorseOnce(request, node: node) } catch let error as ServiceError where error.kind == .conflict && attempt < Self.attemptsMax {
                attempt += 1
                try await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    private func endorseOnce(_ request: EndorsementRequest, node: LedgerNode) async throws -> EndorsedCall {
        let envelope = try Self.check(request, node: node, own: organizationKeys.derivedID)
        let proposal: Proposal
        switch await node.simulate(request.draft, envelope: envelope, payload: request.payload) {
        case .success(let simulated): proposal = simulated
        case .failure(let rejection): throw Refused(rejection.code, rejection.message)
        }
        let asked = EndorsementRequest(draft: request.draft, payload: request.payload, proposal: proposal)
        let message = Self.message(request.draft, envelope, proposal)
        var signatures = [EndorsedCall.Signature(organization: organizationKeys.derivedID, bytes: organizationKeys.sign(message))]
        let others = envelope.organizations.filter { $0 != organizationKeys.derivedID }
        let answers = await withTaskGroup(of: (IdentityID, Result<[UInt8], any Error>).self) { group in
            for organization in others { group.addTask { await self.ask(organization, asked) } }
            var answers: [(IdentityID, Result<[UInt8], any Error>)] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        for (organization, answer) in answers {
            let identity = Directory.identity(organization, in: node.state)
            let name = identity?.label ?? organization.hex
            switch answer {
            case .failure(let error):
                let kind: ServiceError.Kind = (error as? ServiceError)?.kind == .conflict ? .conflict : .unavailable
                throw ServiceError(kind, "\(name)'s node did not endorse the call: \(error)")
            case .success(let bytes):
                guard let key = identity?.signingKey, key.isValidSignature(bytes, for: message) else {
                    throw ServiceError(.unavailable, "\(name)'s node answered with a signature its registered key did not make")
                }
                signatures.append(EndorsedCall.Signature(organization: organization, bytes: bytes))
            }
        }
        let endorsed = EndorsedCall(envelope: envelope, proposal: proposal, signatures: signatures)
        // The endorsement travels in the transaction: refuse here, clearly, one it cannot hold.
        let body = request.draft.body
        let size = Transaction.draft(TransactionBody(chainId: body.chainId, sender: body.sender, publicKey: body.publicKey, sequence: body.sequence,
                                                     contract: body.contract, method: body.method, args: endorsed.args,
                                                     expiryHeight: body.expiryHeight)).bytes.count
        guard size <= Limits.transactionBytesMax else {
            throw ServiceError("endorsed, the call would be a \(size)-byte transaction; the limit is \(Limits.transactionBytesMax) "
                               + "(its \(proposal.writes.count) shared writes and \(proposal.reads.count) reads travel with it)")
        }
        return endorsed
    }

    /// `organization`'s node's signature over `request`, or why there is none. A method of its own:
    /// the same do/catch written in the task group's closure, over the id it captured, handed back
    /// ids of garbage memory in release builds (a Swift 6.3.1 optimizer bug, reproduced outside the
    /// project), and every endorsed call failed there (`demo --network`, chapter 6).
    private func ask(_ organization: IdentityID, _ request: EndorsementRequest) async -> (IdentityID, Result<[UInt8], any Error>) {
        do { return (organization, .success(try await peers.endorse(request, by: organization))) } catch { return (organization, .failure(error)) }
    }

    /// A node asked by `organization`'s node (already authenticated): simulates the call as of the
    /// proposal's height and time on its own replica and signs only if it finds the same outcome.
    public func answer(_ request: EndorsementRequest, from organization: IdentityID, node: LedgerNode, nowMs: Int64) async throws -> [UInt8] {
        let envelope = try Self.check(request, node: node, own: organizationKeys.derivedID)
        guard envelope.organizations.contains(organization) else {
            throw ServiceError.forbidden("the call does not name organization \(organization.hex), which asks for its endorsement")
        }
        guard let proposal = request.proposal else { throw ServiceError("a node asks another to endorse a proposal; this request has none") }
        guard EndorsedCall.isWithinLifetime(proposal.timeMs, of: nowMs) else {
            throw ServiceError(.conflict, "the proposal's time is more than \(EndorsedCall.lifetimeMs / 1_000) s from this node's clock")
        }
        // A node a block or two behind the proposing one catches up first, for a while, rather than
        // simulate on an older replica (the call's reads may be in the blocks it has not committed).
        var waitedMs = 0
        while node.height + 1 < proposal.height, waitedMs < Self.catchUpWaitMs {
            try await Task.sleep(for: .milliseconds(20))
            waitedMs += 20
        }
        switch await node.simulate(request.draft, envelope: envelope, payload: request.payload, at: (proposal.height, proposal.timeMs)) {
        case .failure(let rejection): throw Refused(rejection.code, "here: \(rejection.message)")
        case .success(let own):
            guard own == proposal else {
                throw ServiceError(.conflict, "this node's replica gives another outcome (it may be at another height); simulate again")
            }
        }
        return organizationKeys.sign(Self.message(request.draft, envelope, proposal))
    }

    /// The request is for this chain, an endorsed call's envelope naming this node's organization,
    /// with a payload matching the envelope.
    private static func check(_ request: EndorsementRequest, node: LedgerNode, own: IdentityID) throws(ServiceError) -> PrivateEnvelope {
        let body = request.draft.body
        guard body.chainId == node.chainId else { throw ServiceError("the call is for chain \(body.chainId), not \(node.chainId)") }
        guard let envelope = request.envelope else {
            throw ServiceError("the draft's arguments are a private envelope: {\"for\": [organization…], \"private\": commitment}")
        }
        guard envelope.organizations.contains(own) else {
            throw ServiceError.forbidden("the call does not name this node's organization; send it to a node of one it names")
        }
        guard request.payload.commitment == envelope.commitment else { throw ServiceError("the payload does not match the envelope's commitment") }
        return envelope
    }

    private static func message(_ draft: Transaction, _ envelope: PrivateEnvelope, _ proposal: Proposal) -> [UInt8] {
        let body = draft.body
        return EndorsedCall.message(chainId: body.chainId, sender: body.sender, sequence: body.sequence, contract: body.contract,
                                    method: body.method, envelope: envelope, proposal: proposal)
    }
}

/// The other organizations' nodes over the peer listener (`PeerDirectory`: signed requests over
/// mutual TLS): `POST /v1/peer/endorse` with the request's canonical bytes, signed for their hash.
public final class PeerEndorsements: EndorsementPeers {
    let directory: PeerDirectory

    /// Longest wait for one node's endorsement (it simulates the call on its replica).
    public static let requestTimeout: TimeAmount = .seconds(10)

    public init(directory: PeerDirectory) { self.directory = directory }

    public func endorse(_ request: EndorsementRequest, by organization: IdentityID) async throws -> [UInt8] {
        let body = request.encoded
        let answer = try await directory.post("/v1/peer/endorse", body: body, resource: PeerRequest.endorsement(Hash256.sha256(body)),
                                              to: organization, timeout: Self.requestTimeout, bodyLimit: 16 * 1_024)
        guard answer.status == 200 else {
            let text = String(buffer: answer.body)
            let message = ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["message"] as? String ?? text
            // 409: its replica gave another outcome (another height); asking again may agree.
            throw ServiceError(answer.status == 409 ? .conflict : .unavailable, "answered \(answer.status): \(message.prefix(300))")
        }
        return Array(buffer: answer.body)
    }
}
