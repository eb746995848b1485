import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services
import Storage
import Vault

/// `/v1` routes for records, consents and the access log (ids and codes; record content leaves
/// only as ciphertext with its data key re-wrapped for the requester).
enum RecordRoutes {
    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices, access: AccessService) {
        group.get("records/:id") { _, context in
            let requester = try context.requester()
            let record = try hash(context, "id", what: "record id")
            do throws(ServiceError) { return JSON.response(try await access.describeRecord(record, as: requester)) } catch { throw APIError(error) }
        }
        group.get("records/:id/release") { request, context in
            let requester = try context.requester()
            let record = try hash(context, "id", what: "record id")
            let purposeName = request.query("purpose") ?? "TREAT"
            guard let purpose = Purpose(rawValue: purposeName) else { throw APIError.badRequest("purpose must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))") }
            // A record another organization holds: its node decides, logs and answers (consortium).
            do throws(ServiceError) {
                if let answer = try await PeerRecords.read(record, requester: requester.id, purpose: purpose, node: services.node, access: access,
                                                           peer: services.recordPeer) {
                    return JSON.response(answer)
                }
            } catch { throw APIError(error) }
            do {
                let release = try await access.read(AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read))
                return JSON.response(PeerRecords.releaseJSON(release))
            } catch let error as AccessError {
                switch error {
                case .denied(let decision) where decision.reason == .recordErased && decision.existenceVisible:
                    throw APIError(.gone, decision.reason.rawValue, decision.reason.text)
                case .denied:
                    // Missing, erased or refused: one answer, so a release cannot probe which records exist (finding 12).
                    throw APIError(.notFound, "not_found", "no record \(record.hex) visible to you: not known here, or no consent lets you read it")
                case .auditUnavailable: throw APIError(.serviceUnavailable, "audit_unavailable", error.description)
                default: throw APIError(.internalServerError, "release_failed", error.description)
                }
            }
        }
        group.get("patients/:id/records") { request, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            let limit = Int(try request.integer("limit", in: 1...1_000, default: 100))
            do throws(ServiceError) {
                return JSON.response(try await access.patientRecords(patient, as: requester, after: request.query("after"), limit: limit))
            } catch { throw APIError(error) }
        }
        group.get("patients/:id/consents") { request, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            let limit = Int(try request.integer("limit", in: 1...1_000, default: 100))
            return try JSON.read { () throws(ServiceError) in try access.patientConsents(patient, as: requester, after: request.query("after"), limit: limit) }
        }
        group.get("patients/:id/access-log") { request, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            let after = try request.optionalInteger("after", in: 0...UInt64.max)
            let limit = Int(try request.integer("limit", in: 1...1_000, default: 100))
            return try JSON.read { () throws(ServiceError) in try access.accessLog(patient, as: requester, after: after, limit: limit) }
        }
        // A patient's own claims, prescriptions and trial participation (the patient or a delegate; each shown is logged).
        group.get("patients/:id/claims") { _, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            do throws(ServiceError) { return JSON.response(try await access.patientClaims(patient, as: requester)) } catch { throw APIError(error) }
        }
        group.get("patients/:id/prescriptions") { _, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            do throws(ServiceError) { return JSON.response(try await access.patientPrescriptions(patient, as: requester)) } catch { throw APIError(error) }
        }
        group.get("patients/:id/trials") { _, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            do throws(ServiceError) { return JSON.response(try await access.patientTrials(patient, as: requester)) } catch { throw APIError(error) }
        }
        group.get("audit/anomalies") { request, context in
            let requester = try context.requester()
            let settings = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }.sorted { $0.name < $1.name }
            do throws(ServiceError) {
                return JSON.response(try await access.accessAnomalies(as: requester, settings: settings).json)
            } catch { throw APIError(error) }
        }
    }

    static func hash(_ context: LedgerRequestContext, _ name: String, what: String) throws(APIError) -> Hash256 {
        guard let id = context.parameters.get(name).flatMap(Hash256.init(hex:)) else { throw .badRequest("\(what) must be 64 hex characters") }
        return id
    }
}
