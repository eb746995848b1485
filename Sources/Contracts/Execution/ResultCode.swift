public import LedgerCore

/// Stable, numbered outcomes of executing a transaction (TigerBeetle-style). Never renumber;
/// append new codes. 1–99 envelope, 100–199 membership, 200–299 anchor, 300–399 records,
/// 400–499 consent, 500–599 audit, 600–699 claims, 700–799 supply chain and prescriptions,
/// 800–899 clinical trials, 900–949 telehealth.
public enum ResultCode: UInt16, Sendable, CaseIterable {
    case accepted = 0
    case wrongChain = 1
    case sequenceReplayed = 2
    case sequenceGap = 3
    case expired = 4
    case unknownSender = 5
    case keyMismatch = 6
    case senderRevoked = 7
    case unknownContract = 8
    case unknownMethod = 9
    case badArguments = 10
    case unauthorized = 11
    case genesisOnly = 12
    case notAfterGenesis = 13
    /// A private call's envelope names an organization that is not an active one, or none the sender belongs to.
    case badCollection = 14
    /// A private call's envelope does not name exactly the organizations its contract entitles to the payload.
    case wrongCollection = 15
    /// A private call's private part tried to change a record of shared state (it may write only its collection's own keys).
    case privateWritesShared = 16
    /// An endorsed call's endorsement is malformed, misses a named organization's valid signature,
    /// or writes where no endorsed call may (private or system keys).
    case badEndorsement = 17
    /// An endorsed call reaches a block more than a minute after its simulation, or before it.
    case endorsementExpired = 18
    /// Something an endorsed call's simulation read has changed since: simulate and endorse again.
    case readConflict = 19

    case alreadyRegistered = 100
    case unknownIdentity = 101
    case unknownRole = 102
    case notOrganizationMember = 103
    case alreadyRevoked = 104
    case keyInUse = 105
    case unknownOrganizationType = 106
    /// The organization's type may not give that role (`MembershipContract.allowedRoles(for:)`).
    case roleNotAllowed = 107
    /// This founding organization already approved the pending proposal.
    case alreadyApproved = 108
    /// Another proposal about the same organization is pending (approve it, or wait).
    case proposalConflict = 109

    case alreadyAnchored = 200

    case unknownRecord = 300
    case versionConflict = 301
    case recordErased = 302
    case unknownPatient = 303
    case unknownResourceType = 304
    case unknownCategory = 305
    /// Only the custodian's staff may move a record to another sensitivity category.
    case categoryChangeNotAllowed = 306
    /// `records.releaseLabel` named a label the record does not carry over from an earlier version.
    case labelNotCarried = 307

    case unknownConsent = 400
    case notPatientOrDelegate = 401
    case unknownGrantee = 402
    case consentAlreadyRevoked = 403
    case tooManyConsents = 404
    case badPeriod = 405
    case granteeRevoked = 406
    case unknownPurpose = 407
    case unknownDelegate = 408
    case tooManyDelegates = 409

    case auditNotGrowing = 500

    /// No plan with that id.
    case unknownPlan = 600
    /// A plan with that id exists; plans are immutable, register a new id.
    case planExists = 601
    /// The sender is not the payer of the plan (or not a payer at all).
    case notPlanPayer = 602
    /// The sender is not a provider organization (hospital, clinic, laboratory, pharmacy) or its billing staff.
    case notProvider = 603
    /// The patient already has coverage under this plan for part of the period.
    case coverageOverlap = 604
    /// No coverage with that id.
    case unknownCoverage = 605
    /// No prior authorization with that id.
    case unknownAuthorization = 606
    /// The prior authorization was already decided.
    case authorizationDecided = 607
    /// A claim with that id was already submitted.
    case claimExists = 608
    /// No claim with that id.
    case unknownClaim = 609
    /// The payment is more than the payer still owes on the claim.
    case overpayment = 610
    /// A claim line's date of service is after the block time.
    case serviceInFuture = 611
    /// A billing or diagnosis code is malformed.
    case badCode = 612
    /// The patient holds the most coverages or pending authorizations this contract keeps.
    case tooManyEntries = 613
    /// The coverage has already ended.
    case coverageEnded = 614
    /// No trial is registered under that id.
    case unknownTrial = 800
    /// A trial with that id is already registered.
    case trialAlreadyRegistered = 801
    /// The sender is not the trial's sponsor (a sponsor organization or its researcher).
    case notTrialSponsor = 802
    /// A named site is not an active hospital, clinic or laboratory.
    case invalidTrialSite = 803
    /// An endpoint code is listed twice (within or across the primary and secondary lists).
    case duplicateEndpoint = 804
    /// A per-trial history (protocol versions, data batches, results, criteria) is at its limit.
    case trialHistoryFull = 805
    /// An amendment repeats the protocol hash already in force.
    case protocolUnchanged = 806
    /// A research consent names a consent-form version other than the trial's current one.
    case consentFormVersionMismatch = 807
    /// An amendment's consent-form version is not higher than the one in force.
    case consentFormVersionNotIncreasing = 808
    /// The patient already holds this exact research consent for the trial.
    case trialAlreadyConsented = 809
    /// The patient holds no research consent for the trial (enrollment or withdrawal without consent).
    case noResearchConsent = 810
    /// The patient consented to an older consent-form version and must re-consent to the current one.
    case reconsentNeeded = 811
    /// The participant withdrew: no enrollment, consent or data for them is accepted.
    case participantWithdrawn = 812
    /// The patient is already enrolled in the trial.
    case alreadyEnrolled = 813
    /// The trial has reached its participant limit.
    case participantLimitReached = 814
    /// Data names a patient who is not enrolled in the trial.
    case notEnrolled = 815
    /// The sender's organization is not a site of the trial.
    case siteNotInTrial = 816
    /// Data is for an endpoint that the protocol version in force does not pre-register.
    case endpointNotPreregistered = 817
    /// A case-report-form hash is already anchored (or listed twice).
    case crfAlreadyAnchored = 818
    /// A recruitment criterion code is listed twice.
    case duplicateCriterion = 819
    /// The trial has published no recruitment criteria yet, so nobody can be matched.
    case recruitmentNotOpen = 820
    /// Only a hospital or clinic (or its clinician or researcher) announces recruitment matches.
    case notRecruitmentCustodian = 821
    /// A match token is already announced for the trial (or listed twice).
    case matchTokenAlreadyAnnounced = 822
    /// The custodian has announced the most match tokens allowed for the trial.
    case matchLimitReached = 823
    /// The named patient is not an active registered patient.
    case unknownTrialPatient = 824
    /// Only the patient or their delegate manages the patient's trial consent.
    case notTrialPatientOrDelegate = 825
    /// The participant has already withdrawn.
    case participantAlreadyWithdrawn = 826
    /// The sender is not a clinician or researcher member of an organization.
    case notSiteStaff = 827

    /// A telehealth session with that id already exists.
    case sessionAlreadyExists = 900
    /// No telehealth session has that id.
    case unknownSession = 901
    /// The session's patient is not an active registered patient.
    case sessionPatientUnknown = 902
    /// Only the session's patient (or their delegate) may do this.
    case notSessionPatient = 903
    /// The sender is neither the session's clinician nor its patient (or their delegate).
    case notSessionParticipant = 904
    /// The session has already been joined.
    case sessionAlreadyJoined = 905
    /// The session has already ended.
    case sessionAlreadyEnded = 906
    /// The patient never joined; only the clinician may end the session, as a no-show.
    case sessionNotJoined = 907
    /// A transcript hash was given for a session without consent to record.
    case transcriptWithoutConsent = 908
    /// A session start or end time is out of range.
    case badSessionTime = 909
    /// Only an active member with the clinician role opens a session.
    case sessionNeedsClinician = 910
    /// A no-show has no transcript and no messages.
    case noShowWithMessages = 911
    // Supply chain (700–749)
    /// No product is registered under that GTIN.
    case unknownProduct = 700
    /// A product with that GTIN is already registered.
    case productAlreadyRegistered = 701
    /// Not a GTIN-14 with a valid GS1 check digit.
    case invalidGTIN = 702
    /// A serial is not 1–20 characters of letters, digits and -._
    case invalidSerial = 703
    /// A lot number is not 1–20 characters of letters, digits and -._
    case invalidLot = 704
    /// That serial is already commissioned (or listed twice).
    case serialAlreadyCommissioned = 705
    /// No unit was commissioned under that GTIN and serial.
    case unknownUnit = 706
    /// The acting organization does not own that unit or case.
    case notOwner = 707
    /// The unit or case is shipped and not yet received.
    case unitInTransit = 708
    /// The unit was already dispensed.
    case unitDispensed = 709
    /// The unit's lot is recalled.
    case unitRecalled = 710
    /// The unit is quarantined as suspect product.
    case unitSuspect = 711
    /// The unit is past its expiry.
    case unitExpired = 712
    /// The unit was decommissioned.
    case unitDecommissioned = 713
    /// The unit is packed in a case: act on the case, or unpack it first.
    case unitInCase = 714
    /// Not an SSCC-18 with a valid GS1 check digit.
    case invalidSSCC = 715
    /// A case with that SSCC was already packed.
    case caseAlreadyExists = 716
    /// No case was packed under that SSCC.
    case unknownCase = 717
    /// The case was already unpacked.
    case caseUnpacked = 718
    /// The recipient is not a registered, active organization that may hold product.
    case invalidRecipient = 719
    /// Receive before ship: nothing was shipped to anyone.
    case nothingToReceive = 720
    /// The unit or case was shipped to another organization.
    case notPendingRecipient = 721
    /// The named sender is not the organization that shipped it (never owned it).
    case notShipper = 722
    /// No unit was commissioned in that lot.
    case unknownLot = 723
    /// The lot is already recalled.
    case lotRecalled = 724
    /// The lot was commissioned with another expiry.
    case lotExpiryConflict = 725
    /// The unit is not quarantined, so there is nothing to clear.
    case unitNotSuspect = 726
    /// The unit's custody history is full; it can only be decommissioned or dispensed.
    case custodyHistoryFull = 727
    /// The sender is not a supply-chain party allowed to do this (organization type or role).
    case notSupplyParty = 728
    /// Only the product's manufacturer (or, where allowed, a regulator) may do this.
    case notManufacturer = 729
    /// Unknown recall, quarantine or decommission reason code.
    case unknownReason = 730
    /// The call would touch more units than one transaction may.
    case tooManyUnits = 731
    /// The expiry is not after the block time.
    case expiryNotInFuture = 732

    // Prescriptions (750–799)
    /// No prescription with that id.
    case unknownPrescription = 750
    /// The prescription has expired.
    case prescriptionExpired = 751
    /// Every fill (1 + refills) was used.
    case noFillsLeft = 752
    /// A unit is not of the prescribed GTIN.
    case wrongProduct = 753
    /// The prescription was cancelled.
    case prescriptionCancelled = 754
    /// Only a clinician of a hospital or clinic issues prescriptions.
    case notPrescriber = 755
    /// Only a pharmacy or hospital (its key or a pharmacist) fills prescriptions.
    case notPharmacy = 756
    /// The prescription's expiry is not after the block time or is more than a year later.
    case badPrescriptionPeriod = 757
    /// The number of units dispensed is not the quantity per fill.
    case wrongQuantity = 758
    /// Only the issuing prescriber or their organization cancels a prescription.
    case notIssuer = 759

    /// A short, stable name for logs and JSON.
    public var name: String { String(describing: self) }
}

/// A contract's refusal: a stable code and a human message (ids and codes only, never PHI).
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ResultCode
    public let message: String

    public init(_ code: ResultCode, _ message: String) { (self.code, self.message) = (code, message) }

    /// A result that is not accepted, as a rejection (an unknown code reads as bad arguments).
    public init(_ result: TransactionResult) {
        self.init(ResultCode(rawValue: result.code) ?? .badArguments, result.message)
    }

    /// The on-chain result form.
    public var result: TransactionResult { TransactionResult(code: code.rawValue, message: message) }
    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }
}
