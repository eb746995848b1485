import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node

/// `/v1` routes for the healthcare contracts: claims, supply chain and prescriptions, trials, telehealth sessions (and the
/// relay of their sealed messages). Writes are signed transactions posted to `/v1/txs`: the contracts
/// decide who may do what, so the server adds no second rule set.
enum ContractRoutes {
    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        addTrialsAndTelehealth(to: group, services)
        addSupply(to: group, services)
        group.get("plans/:id") { _, context in
            _ = try context.requester()
            let id = context.parameters.get("id") ?? ""
            guard let plan = ClaimsContract.plan(id, in: services.state) else { throw APIError.notFound("no plan \(id.prefix(40))") }
            return JSON.response(planJSON(plan))
        }
        group.get("coverages/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "coverage id")
            guard let coverage = ClaimsContract.coverage(id, in: services.state),
                  let plan = ClaimsContract.plan(coverage.plan, in: services.state) else { throw APIError.notFound("no coverage \(id.hex)") }
            guard isPatientSide(coverage.patient, requester, services.state) || isStaff(of: plan.payer, requester) else {
                throw APIError.forbidden("only the patient, a delegate or the payer's staff read a coverage")
            }
            return JSON.response([
                "id": coverage.id.hex, "patient": coverage.patient.hex, "plan": coverage.plan, "start_ms": coverage.startMs,
                "end_ms": coverage.endMs, "terminated_ms": coverage.terminatedMs.map { $0 as Any } ?? NSNull(),
                "deductible_met_minor": coverage.deductibleMetMinor, "out_of_pocket_minor": coverage.outOfPocketMinor,
                "units_used": coverage.unitsUsed, "currency": plan.currency,
            ])
        }
        group.get("authorizations/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "authorization id")
            guard let auth = ClaimsContract.authorization(id, in: services.state) else { throw APIError.notFound("no authorization \(id.hex)") }
            let payer = ClaimsContract.plan(auth.plan, in: services.state)?.payer
            guard isPatientSide(auth.patient, requester, services.state) || isStaff(of: auth.provider, requester)
                    || payer.map({ isStaff(of: $0, requester) }) == true else {
                throw APIError.forbidden("only the patient, the requesting provider or the payer read an authorization")
            }
            return JSON.response([
                "id": auth.id.hex, "patient": auth.patient.hex, "plan": auth.plan, "provider": auth.provider.hex, "code": auth.code,
                "quantity": auth.quantity, "status": auth.status.rawValue, "remaining": auth.remaining,
                "valid_until_ms": auth.validUntilMs.map { $0 as Any } ?? NSNull(), "denial_reason": auth.denialReason.map { $0 as Any } ?? NSNull(),
            ])
        }
        group.get("claims/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "claim id")
            guard let claim = ClaimsContract.claim(id, in: services.state) else { throw APIError.notFound("no claim \(id.hex)") }
            guard mayReadClaim(claim, requester, services.state) else {
                throw APIError.forbidden("only the patient, a delegate, the billing provider and the payer read a claim")
            }
            return JSON.response(claimJSON(claim, currency: ClaimsContract.plan(claim.plan, in: services.state)?.currency ?? "USD"))
        }
    }

    /// Trials (a public registry: protocol versions, endpoints, sites, counts, results and flags),
    /// a participant's status, telehealth sessions and their message relay.
    static func addTrialsAndTelehealth(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("trials/:id") { _, context in
            _ = try context.requester()
            let id = context.parameters.get("id") ?? ""
            guard let trial = TrialIndex.trial(id, in: services.state) else { throw APIError.notFound("no trial \(id.prefix(40))") }
            return JSON.response(trialJSON(trial, results: TrialIndex.results(trial: id, in: services.state)))
        }
        group.get("trials/:id/participants/:patient") { _, context in
            let requester = try context.requester()
            let id = context.parameters.get("id") ?? ""
            let patient = try RecordRoutes.hash(context, "patient", what: "patient id")
            guard let trial = TrialIndex.trial(id, in: services.state) else { throw APIError.notFound("no trial \(id.prefix(40))") }
            guard isPatientSide(patient, requester, services.state) || isStaff(of: trial.sponsor, requester)
                    || trial.current.sites.contains(where: { isStaff(of: $0, requester) }) else {
                throw APIError.forbidden("only the patient, a delegate, the sponsor's or a site's staff read a participant")
            }
            guard let participant = TrialIndex.participant(trial: id, patient: patient, in: services.state) else {
                throw APIError.notFound("patient \(patient.hex) has no consent or enrollment in \(id)")
            }
            return JSON.response([
                "trial": id, "patient": patient.hex, "status": participant.status.rawValue,
                "consent_form_version": participant.consentFormVersion, "recruitment_contact": participant.recruitmentContact,
                "enrolled_site": participant.enrolledSite?.hex ?? NSNull(), "enrolled_height": participant.enrolledHeight.map { $0 as Any } ?? NSNull(),
                "withdrawn_height": participant.withdrawnHeight.map { $0 as Any } ?? NSNull(),
            ])
        }
        group.get("telehealth/sessions/:id") { _, context in
            let (session, _) = try participantSession(context, services)
            return JSON.response(sessionJSON(session))
        }
        group.post("telehealth/sessions/:id/messages") { request, context in
            let (session, requester) = try participantSession(context, services)
            guard !session.status.isFinal else {
                await services.relay.forget(session.id)
                throw APIError(.conflict, "session_ended", "session \(session.id.hex) has ended; nothing more is relayed")
            }
            let body = try await request.body.collect(upTo: TelehealthRelay.messageBytesMax * 2)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any],
                  let sealedText = object["sealed"] as? String, let sealed = Data(base64Encoded: sealedText),
                  let sequence = object["sequence"] as? Int, sequence >= 0 else {
                throw APIError.badRequest("body: {\"sequence\": n, \"sealed\": base64 of the sealed message}")
            }
            do throws(TelehealthRelay.RelayError) {
                let index = try await services.relay.post(session.id, sender: requester.id, sequence: UInt64(sequence), sealed: Array(sealed),
                                                          nowMs: Int64(Date().timeIntervalSince1970 * 1_000))
                return JSON.response(["index": index], status: .created)
            } catch {
                throw APIError(error == .tooLarge ? .contentTooLarge : .conflict, "relay_refused", error.description)
            }
        }
        group.get("telehealth/sessions/:id/messages") { request, context in
            let (session, _) = try participantSession(context, services)
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

    /// Serial verification (any authenticated identity: a pack's standing and chain of custody
    /// is what every party of the supply chain must be able to check), products, prescriptions.
    static func addSupply(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("supply/products/:gtin") { _, context in
            _ = try context.requester()
            let gtin = context.parameters.get("gtin") ?? ""
            guard let product = SupplyChainContract.product(gtin, in: services.state) else { throw APIError.notFound("no product \(gtin.prefix(20))") }
            return JSON.response(["gtin": product.gtin, "label": product.label, "manufacturer": product.manufacturer.hex, "height": product.height])
        }
        group.get("supply/serials/:gtin/:serial") { _, context in
            _ = try context.requester()
            let gtin = context.parameters.get("gtin") ?? "", serial = context.parameters.get("serial") ?? ""
            guard GS1.isGTIN(gtin), GS1.isSerial(serial) else { throw APIError.badRequest("a GTIN is 14 digits with a valid check digit; a serial 1–20 GS1 characters") }
            let nowMs = await services.node.headHeader.timeMs
            let unit = SupplyChainContract.unit(gtin, serial, atMs: nowMs, in: services.state)
            return JSON.response(serialJSON(unit))
        }
        group.get("prescriptions/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "prescription id")
            guard let view = PrescriptionContract.prescription(id, in: services.state) else { throw APIError.notFound("no prescription \(id.hex)") }
            let rx = view.prescription
            guard mayReadPrescription(rx, requester, services.state) else {
                throw APIError.forbidden("only the patient, the prescriber's organization and pharmacists read a prescription")
            }
            return JSON.response([
                "id": rx.id.hex, "prescriber": rx.prescriber.hex, "organization": rx.organization.hex, "patient": rx.patient.hex,
                "medication_request_hash": rx.medicationRequestHash.hex, "gtin": rx.gtin, "quantity": rx.quantity, "refills": rx.refills,
                "expires_ms": rx.expiresMs, "status": view.status.rawValue, "fills_used": view.fillsUsed, "fills_remaining": view.fillsRemaining,
                "fills": view.fills.map { fill -> [String: Any] in
                    ["number": fill.number, "pharmacy": fill.pharmacy.hex, "by": fill.by.hex, "height": fill.height, "time_ms": fill.timeMs,
                     "units": fill.units.map { "\($0.gtin):\($0.serial)" }]
                },
            ])
        }
    }

    static func serialJSON(_ unit: SerialVerification) -> [String: Any] {
        func id(_ value: IdentityID?) -> Any { value?.hex ?? NSNull() }
        return [
            "gtin": unit.sgtin.gtin, "serial": unit.sgtin.serial, "known": unit.known, "in_good_standing": unit.isInGoodStanding,
            "status": unit.status?.rawValue ?? "unknown", "lot": unit.lot ?? NSNull(), "expiry_ms": unit.expiryMs.map { $0 as Any } ?? NSNull(),
            "manufacturer": id(unit.manufacturer), "owner": id(unit.owner), "pending_recipient": id(unit.pendingRecipient),
            "case": unit.caseSSCC ?? NSNull(), "recalled": unit.recall != nil, "incident_count": unit.incidentCount,
            "incidents": unit.incidents.map(\.hex),
            "custody": unit.custody.map { event -> [String: Any] in
                ["kind": event.kind.rawValue, "from": id(event.from), "to": id(event.to), "detail": event.detail ?? NSNull(),
                 "height": event.height, "time_ms": event.timeMs]
            },
        ]
    }

    /// The session named in the path, if the requester is one of its participants.
    static func participantSession(_ context: LedgerRequestContext, _ services: ServerServices) throws -> (TelehealthSession, Identity) {
        let requester = try context.requester()
        let id = try RecordRoutes.hash(context, "id", what: "session id")
        guard let session = TelehealthContract.session(id, in: services.state) else { throw APIError.notFound("no session \(id.hex)") }
        guard isParticipant(session, requester, services.state) else {
            throw APIError.forbidden("only the session's clinician and patient (or a delegate) take part")
        }
        return (session, requester)
    }

    static func sessionJSON(_ session: TelehealthSession) -> [String: Any] {
        [
            "id": session.id.hex, "clinician": session.clinician.hex, "organization": session.clinicianOrganization.hex,
            "patient": session.patient.hex, "consent_to_record": session.consentToRecord, "key_commitment": session.keyCommitment.hex,
            "start_ms": session.startMs, "status": session.status.rawValue, "opened_height": session.openedHeight,
            "end_ms": session.endMs.map { $0 as Any } ?? NSNull(), "transcript_hash": session.transcriptHash?.hex ?? NSNull(),
            "message_count": session.messageCount.map { $0 as Any } ?? NSNull(), "ended_height": session.endedHeight.map { $0 as Any } ?? NSNull(),
        ]
    }

    static func trialJSON(_ trial: Trial, results: [TrialResult]) -> [String: Any] {
        [
            "id": trial.id, "sponsor": trial.sponsor.hex, "participants": trial.participantCount, "data_batches": trial.dataBatchCount,
            "height": trial.height,
            "versions": trial.versions.map { version -> [String: Any] in
                ["version": version.version, "protocol_hash": version.protocolHash.hex, "consent_form_version": version.consentFormVersion,
                 "primary_endpoints": version.primaryEndpoints, "secondary_endpoints": version.secondaryEndpoints,
                 "sites": version.sites.map(\.hex), "reason": version.reason ?? NSNull(), "height": version.height]
            },
            "results": results.map { result -> [String: Any] in
                var out: [String: Any] = ["index": result.index, "primary_endpoints": result.primaryEndpoints, "results_hash": result.resultsHash.hex,
                                          "protocol_version": result.protocolVersion, "height": result.height, "flagged": result.isFlagged]
                if let flag = result.flag {
                    out["outcome_switching"] = ["added": flag.added, "dropped": flag.dropped, "never_registered": flag.neverRegistered]
                }
                return out
            },
        ]
    }

    /// The patient (or a delegate), the prescriber's organization, and any pharmacist or pharmacy
    /// (who must check a prescription before filling it).
    static func mayReadPrescription(_ rx: Prescription, _ requester: Identity, _ state: any StateReader) -> Bool {
        isPatientSide(rx.patient, requester, state) || isStaff(of: rx.organization, requester) || requester.has(.pharmacist)
            || (requester.kind == .organization && requester.organizationType == .pharmacy)
    }

    /// The session's clinician, or its patient (or a delegate).
    static func isParticipant(_ session: TelehealthSession, _ requester: Identity, _ state: any StateReader) -> Bool {
        requester.id == session.clinician || isPatientSide(session.patient, requester, state)
    }

    /// The patient or one of their delegates.
    static func isPatientSide(_ patient: IdentityID, _ requester: Identity, _ state: any StateReader) -> Bool {
        requester.id == patient || ConsentIndex.isDelegate(requester.id, of: patient, in: state)
    }

    /// The organization itself or one of its members.
    static func isStaff(of organization: IdentityID, _ requester: Identity) -> Bool {
        requester.id == organization || requester.organization == organization
    }

    /// The parties of a claim: patient (and delegates), the billing provider's staff, the payer's staff.
    static func mayReadClaim(_ claim: ClaimEntry, _ requester: Identity, _ state: any StateReader) -> Bool {
        if isPatientSide(claim.patient, requester, state) || isStaff(of: claim.provider, requester) { return true }
        guard let payer = ClaimsContract.plan(claim.plan, in: state)?.payer else { return false }
        return isStaff(of: payer, requester)
    }

    static func planJSON(_ plan: Plan) -> [String: Any] {
        [
            "id": plan.id, "payer": plan.payer.hex, "currency": plan.currency, "deductible_minor": plan.deductibleMinor,
            "coinsurance_basis_points": plan.coinsuranceBasisPoints, "out_of_pocket_max_minor": plan.outOfPocketMaxMinor,
            "diagnosis_prefixes": plan.diagnosisPrefixes, "height": plan.height,
            "benefits": plan.benefits.map { benefit -> [String: Any] in
                ["code": benefit.code, "allowed_minor": benefit.allowedMinor, "prior_auth": benefit.needsPriorAuth,
                 "units_per_period": benefit.unitsPerPeriod.map { $0 as Any } ?? NSNull()]
            },
        ]
    }

    static func claimJSON(_ claim: ClaimEntry, currency: String) -> [String: Any] {
        [
            "id": claim.id.hex, "patient": claim.patient.hex, "provider": claim.provider.hex, "submitter": claim.submitter.hex,
            "plan": claim.plan, "coverage": claim.coverage?.hex ?? NSNull(), "claim_hash": claim.claimHash.hex, "diagnoses": claim.diagnoses,
            "outcome": claim.outcome.rawValue, "currency": currency, "height": claim.height, "time_ms": claim.timeMs,
            "items": claim.items.map { item -> [String: Any] in
                ["sequence": item.sequence, "code": item.code, "quantity": item.quantity, "unit_price_minor": item.unitPriceMinor,
                 "service_ms": item.serviceMs, "record": item.record.hex]
            },
            "lines": claim.lines.map { line -> [String: Any] in
                ["sequence": line.sequence, "submitted_minor": line.submittedMinor, "eligible_minor": line.eligibleMinor,
                 "units_allowed": line.unitsAllowed, "patient_minor": line.patientMinor, "payer_minor": line.payerMinor,
                 "adjustments": line.adjustments.map { ["reason": $0.reason.rawValue, "carc": $0.reason.carc, "amount_minor": $0.amountMinor, "units": $0.units] }]
            },
            "submitted_minor": claim.submittedMinor, "eligible_minor": claim.eligibleMinor, "patient_minor": claim.patientMinor,
            "payer_minor": claim.payerMinor, "paid_minor": claim.paidMinor,
            "payments": claim.payments.map { ["amount_minor": $0.amountMinor, "reference": $0.reference.hex, "height": $0.height, "time_ms": $0.timeMs] },
        ]
    }
}
