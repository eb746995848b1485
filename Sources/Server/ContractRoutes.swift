import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// `/v1` routes for the healthcare contracts: claims, supply chain and prescriptions, trials, telehealth sessions (and the
/// relay of their sealed messages). Writes are signed transactions posted to `/v1/txs`: the contracts
/// decide who may do what. Reads are the services' read models, which apply `ReadRules`.
enum ContractRoutes {
    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("plans/:id") { _, context in
            _ = try context.requester()
            let view = await services.view()
            return try JSON.read { () throws(ServiceError) in try view.plan(context.parameters.get("id") ?? "") }
        }
        group.get("coverages/:id") { request, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "coverage id")
            guard let patient = request.query("patient").flatMap(Hash256.init(hex:)),
                  let member = request.query("member").flatMap(Hash256.init(hex:)) else {
                throw APIError.badRequest("patient and member (the member id the payer issued) must be 64 hex characters each")
            }
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in try await view.coverage(id, patient: patient, memberID: member, as: requester) }
        }
        group.get("authorizations/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "authorization id")
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in try await view.authorization(id, as: requester) }
        }
        group.get("claims/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "claim id")
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in try await view.claim(id, as: requester) }
        }
        addPayer(to: group, services)
        group.get("trials/:id") { _, context in
            _ = try context.requester()
            let view = await services.view()
            return try JSON.read { () throws(ServiceError) in try view.trial(context.parameters.get("id") ?? "") }
        }
        group.get("trials/:id/participants/:patient") { _, context in
            let requester = try context.requester()
            let patient = try RecordRoutes.hash(context, "patient", what: "patient id")
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in try await view.participant(patient, trial: context.parameters.get("id") ?? "", as: requester) }
        }
        group.get("supply/products/:gtin") { _, context in
            _ = try context.requester()
            let view = await services.view()
            return try JSON.read { () throws(ServiceError) in try view.product(context.parameters.get("gtin") ?? "") }
        }
        group.get("supply/serials/:gtin/:serial") { _, context in
            _ = try context.requester()
            let view = await services.view()
            return try JSON.read { () throws(ServiceError) in
                try view.serial(gtin: context.parameters.get("gtin") ?? "", serial: context.parameters.get("serial") ?? "")
            }
        }
        group.get("prescriptions/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "prescription id")
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in try await view.prescription(id, as: requester) }
        }
        addTelehealth(to: group, services)
    }

    /// A payer's work lists (`LedgerView.payerPlans`, `payerClaims`, `payerAuthorizations`; also the portal's payer page).
    static func addPayer(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        let rows: StateRowsPage = { try services.node.visibleStates(prefix: $0, after: $1, limit: $2) }
        group.get("payer/plans") { _, context in
            let requester = try context.requester()
            let view = await services.view()
            return try JSON.read { () throws(ServiceError) in
                let payer = try view.payerOrganization(of: requester)
                let plans = try view.payerPlans(of: payer.id, rows: rows)
                return ["payer": payer.id.hex, "plans": plans]
            }
        }
        group.get("payer/claims") { request, context in
            let requester = try context.requester()
            let limit = Int(try request.integer("limit", in: 1...UInt64(LedgerView.payerListMax), default: UInt64(LedgerView.payerListMax)))
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in
                try await view.payerClaims(as: requester, rows: rows, after: request.query("after"), limit: limit)
            }
        }
        group.get("payer/authorizations") { request, context in
            let requester = try context.requester()
            let limit = Int(try request.integer("limit", in: 1...UInt64(LedgerView.payerListMax), default: UInt64(LedgerView.payerListMax)))
            let pendingOnly: Bool
            switch request.query("status") {
            case nil, "pending": pendingOnly = true
            case "all": pendingOnly = false
            case let text?: throw APIError.badRequest("status must be pending or all, got “\(text.prefix(40))”")
            }
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in
                try await view.payerAuthorizations(as: requester, rows: rows, pendingOnly: pendingOnly, after: request.query("after"), limit: limit)
            }
        }
    }

    /// Telehealth sessions and the relay of their sealed messages (participants only).
    static func addTelehealth(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("telehealth/sessions/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "session id")
            let view = await services.view()
            return try await JSON.read { () async throws(ServiceError) in try await view.session(id, as: requester) }
        }
        group.post("telehealth/sessions/:id/messages") { request, context in
            let (session, requester) = try await participantSession(context, services)
            guard !session.status.isFinal else {
                await services.relay.forget(session.id)
                throw APIError(.conflict, "session_ended", "session \(session.id.hex) has ended; nothing more is relayed")
            }
            let body = try await request.collectBody(upTo: TelehealthRelay.messageBytesMax * 2)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any],
                  let sealedText = object["sealed"] as? String, let sealed = Data(base64Encoded: sealedText),
                  let sequence = object["sequence"] as? Int, sequence >= 0 else {
                throw APIError.badRequest("body: {\"sequence\": n, \"sealed\": base64 of the sealed message}")
            }
            do throws(TelehealthRelay.RelayError) {
                let index = try await services.relay.post(session.id, sender: requester.id, sequence: UInt64(sequence), sealed: Array(sealed),
                                                          nowMs: await services.node.nextBlockTimeMs)
                return JSON.response(["index": index], status: .created)
            } catch {
                throw APIError(error == .tooLarge ? .contentTooLarge : .conflict, "relay_refused", error.description)
            }
        }
        group.get("telehealth/sessions/:id/messages") { request, context in
            let (session, _) = try await participantSession(context, services)
            let after = Int(request.uri.queryParameters.get("after") ?? "-1") ?? -2
            guard after >= -1 else { throw APIError.badRequest("after must be a message index (or -1)") }
            let messages = await services.relay.messages(session.id, after: after, limit: 100)
            return JSON.response([
                "session": session.id.hex, "status": session.status.rawValue,
                "messages": messages.map { ["index": $0.index, "sender": $0.sender.hex, "sequence": $0.sequence,
                                            "sealed": Data($0.sealed).base64EncodedString(), "received_ms": $0.receivedMs] },
            ])
        }
    }

    /// The session named in the path, if the requester is one of its participants.
    static func participantSession(_ context: LedgerRequestContext, _ services: ServerServices) async throws -> (TelehealthSession, Identity) {
        let requester = try context.requester()
        let id = try RecordRoutes.hash(context, "id", what: "session id")
        do { return (try await services.view().participantSession(id, as: requester), requester) } catch { throw APIError(error) }
    }
}
