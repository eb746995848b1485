import Foundation

/// Compact JSON text for the values JSONSerialization produces, written without it:
/// JSONSerialization bridges every dictionary to NSDictionary and escapes strings character by
/// character. For stored FHIR resources (`FHIRJSON.data`) and etcd request bodies (`EtcdClient`).
public enum CompactJSON {
    /// The text of `value`, or nil when it holds something JSON cannot say.
    public static func bytes(_ value: Any) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(1_024)
        return write(value, into: &out) ? out : nil
    }

    /// Compact JSON for the values JSONSerialization produces (String, NSNumber, Bool, NSNull,
    /// arrays and dictionaries), without bridging to NSDictionary; false for anything else.
    public static func write(_ value: Any, into out: inout [UInt8]) -> Bool {
        switch value {
        case let text as String:
            writeString(text, into: &out)
        case let object as [String: Any]:
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, child) in object {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                guard write(child, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "}"))
        case let list as [Any]:
            out.append(UInt8(ascii: "["))
            for (index, child) in list.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard write(child, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case let number as NSNumber:
            let kind = number.objCType.pointee
            if kind == 99 {   // "c": a boolean
                out.append(contentsOf: Array((number.boolValue ? "true" : "false").utf8))
            } else if kind == 100 || kind == 102 || number is NSDecimalNumber {   // "d", "f": floating point
                let double = number.doubleValue
                guard double.isFinite else { return false }
                let text = number is NSDecimalNumber ? number.description : "\(double)"
                out.append(contentsOf: Array(text.utf8))
            } else {
                out.append(contentsOf: Array(String(number.int64Value).utf8))
            }
        case let flag as Bool:
            out.append(contentsOf: Array((flag ? "true" : "false").utf8))
        case let integer as Int:
            out.append(contentsOf: Array(String(integer).utf8))
        case let double as Double:
            guard double.isFinite else { return false }
            out.append(contentsOf: Array("\(double)".utf8))
        case is NSNull:
            out.append(contentsOf: Array("null".utf8))
        default:
            return false
        }
        return true
    }

    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (ids, codes, base64) need no escape: copied as they are.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            out.append(contentsOf: text.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
            case 10: out.append(contentsOf: [92, 110])
            case 13: out.append(contentsOf: [92, 114])
            case 9: out.append(contentsOf: [92, 116])
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [92, 117, 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
