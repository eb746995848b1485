import Contracts

/// The server's CapabilityStatement, generated from the same tables the server runs on.
public enum CapabilityStatement {
    /// Resource types the server stores and serves.
    public static let supportedTypes: [String] = FHIRResourceTypes.all.subtracting(["OperationOutcome", "Parameters"]).sorted()

    /// Interactions supported on every supported type.
    public static let interactions = ["read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"]

    /// Type-level and instance-level operations, by resource type.
    public static let operations: [String: [(name: String, definition: String)]] = [
        "Patient": [("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
                    ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export")],
        "Claim": [("submit", "http://hl7.org/fhir/OperationDefinition/Claim-submit")],
    ]

    /// The statement; `base` is the server's FHIR base URL, `tokenURL` its token endpoint.
    public static func make(base: String, tokenURL: String, date: String) -> [String: Any] {
        let resources: [[String: Any]] = supportedTypes.map { type in
            let parameters = SearchParameters.forType(type).values.sorted { $0.name < $1.name }.map { parameter -> [String: Any] in
                var documentation = parameter.documentation + ". Modifiers: " + SearchParameters.modifiers(parameter).map { ":\($0)" }.joined(separator: ", ")
                if parameter.target == .patient {
                    documentation += ". Chains one level into Patient (e.g. \(parameter.name).name=smith, \(parameter.name):Patient.birthdate=ge1980)"
                }
                return ["name": parameter.name, "definition": parameter.definition, "type": parameter.kind.rawValue, "documentation": documentation]
            }
            var resource: [String: Any] = [
                "type": type,
                "interaction": interactions.map { ["code": $0] },
                "versioning": "versioned-update", "readHistory": true, "updateCreate": true,
                "conditionalCreate": true, "conditionalUpdate": true, "conditionalDelete": "single", "conditionalRead": "not-match",
                "searchParam": parameters,
            ]
            // $validate works on every type.
            let validate = (name: "validate", definition: "http://hl7.org/fhir/OperationDefinition/Resource-validate")
            resource["operation"] = ((operations[type] ?? []) + [validate]).map { ["name": $0.name, "definition": $0.definition] }
            let includes = SearchParameters.includeElements(type)
            if !includes.isEmpty { resource["searchInclude"] = includes.map { "\(type):\($0)" } }
            if type == "Patient" { resource["searchRevInclude"] = SearchParameters.patientReferences.map { "\($0.type):\($0.element)" } }
            return resource
        }
        return [
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": date,
            "kind": "instance",
            "software": ["name": "CareLedger"],
            "implementation": ["description": "CareLedger node: FHIR R4 over encrypted, consent-checked, audited records", "url": base],
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "rest": [[
                "mode": "server",
                "documentation": "Every read is a consent decision logged to the node's audit log before any data is decrypted. Purpose of use: X-Purpose-Of-Use header (HL7 v3 PurposeOfUse code, default TREAT). Search: the R4 standard's search parameters with their types' semantics (dates as intervals with every prefix, numbers and quantities with precision and units, composites); _sort on _id, _lastUpdated and the type's date, number and quantity parameters (names and other blind-indexed strings cannot be sorted: only keyed hashes are stored); _elements; _summary=true|data|count|false; _total=none|estimate|accurate (a total given is always exact); modifiers and chains as each searchParam documents. Writes honour Prefer: return=minimal|representation|OperationOutcome, If-Match and If-None-Match: *; reads answer If-None-Match with 304. Conditional update and delete take a search as their condition, run as the requester (a resource you may not read never matches); several matches are a 412. History takes _since, _count and _offset. Patient searches take _revinclude (and _revinclude:iterate, one level) and _has (one level) over the patient references listed in searchRevInclude; a resource you may not read is neither included nor counted as a _has match.",
                "security": [
                    "service": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"]]]],
                    "description": "Bearer tokens from the SMART Backend Services token endpoint (client_credentials, private_key_jwt with EdDSA).",
                    "extension": [[
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [["url": "token", "valueUri": tokenURL]],
                    ]],
                ],
                "resource": resources,
                "operation": [["name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"]],
            ]],
        ]
    }
}

extension SearchParameters {
    /// Every (type, parameter) that references the Patient: what `_revinclude` and `_has` follow.
    public static let patientReferences: [(type: String, element: String)] = CapabilityStatement.supportedTypes.flatMap { type in
        forType(type).values.filter { $0.target == .patient }.map(\.name).sorted().map { (type, $0) }
    }

    /// Reference elements `_include` follows for a type (to Patient, Practitioner, Organization, …).
    public static func includeElements(_ type: String) -> [String] {
        var out: [String] = []
        let parameters = forType(type)
        if parameters["patient"] != nil { out.append("patient") }
        if parameters["subject"] != nil { out.append("subject") }
        switch type {
        case "Patient": out += ["generalPractitioner", "managingOrganization"]
        case "Encounter": out += ["serviceProvider"]
        case "MedicationRequest": out += ["requester"]
        case "Claim", "ExplanationOfBenefit": out += ["provider"]
        default: break
        }
        return out
    }
}
