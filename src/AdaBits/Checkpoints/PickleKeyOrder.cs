using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace AdaBits.Checkpoints;

/// <summary>
/// The state dict's keys of a PyTorch zip checkpoint in file order. PyBridge's unpickler returns unordered
/// Hashtables, but pretrained_model_remap_keys pairs keys by position (reference §5.13), so the order has to
/// come from the pickle itself. This is a read-only stack machine over the protocol-2 opcodes torch.save and
/// PyBridge's pickler write (plus the protocol-4 ones a newer torch may emit, and text numbers); dicts,
/// OrderedDicts included, keep their insertion order, and everything else (tensors, storages, objects) is an
/// opaque placeholder, since only the keys are wanted. Values are still read by CheckpointFile.
/// </summary>
internal static class PickleKeyOrder
{
    /// <summary>
    /// The string keys of the checkpoint's state dict in file order: its "model" entry, else "state_dict", else
    /// the top level (as CheckpointFile.StateDictOf), with a DataParallel "module." prefix removed.
    /// </summary>
    public static List<string> StateDictKeys(string path)
    {
        if (Read(path) is not PickleDict dict)
            throw new InvalidDataException($"checkpoint '{path}' does not hold a dictionary");
        var sd = dict.Get("model") as PickleDict ?? dict.Get("state_dict") as PickleDict ?? dict;
        var keys = new List<string>(sd.Items.Count);
        foreach (var (key, _) in sd.Items)
            if (key is string s)
                keys.Add(s.StartsWith("module.", StringComparison.Ordinal) ? s["module.".Length..] : s);
        return keys;
    }

    /// <summary>
    /// Checks a checkpoint before a library that trusts its lengths reads it (PyBridge's unpickler allocates the
    /// length a string claims before reading it; fuzzing made it allocate gigabytes): every zip entry fits the
    /// file, and data.pkl runs through this bounds-checked machine to its STOP.
    /// </summary>
    public static void Check(string path) => Read(path);

    /// <summary>The top object of the checkpoint's pickle.</summary>
    static object? Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' not found");
        try
        {
            return new Machine(ReadPickle(path), path).Run();
        }
        catch (Exception e) when (e is OverflowException or ArgumentException or InvalidCastException)
        {
            throw new InvalidDataException($"checkpoint '{path}': malformed pickle in data.pkl ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>The bytes of the zip entry "&lt;archive&gt;/data.pkl" (torch.save's layout since PyTorch 1.6).</summary>
    static byte[] ReadPickle(string path)
    {
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"checkpoint '{path}' is not a PyTorch zip checkpoint ({e.Message.ReplaceLineEndings(" ")})");
        }
        using (zip)
        {
            long fileLength = new FileInfo(path).Length;
            // torch.save stores entries uncompressed; a deflated one could still be larger, but not 1000 times
            foreach (var e in zip.Entries)
                if (e.CompressedLength > fileLength || e.Length > (1 << 20) + 1024 * Math.Max(e.CompressedLength, 1))
                    throw new InvalidDataException($"checkpoint '{path}': zip entry '{e.FullName}' claims {e.Length} bytes ({e.CompressedLength} stored) in a file of {fileLength} (corrupt)");
            var entry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                ?? throw new InvalidDataException($"checkpoint '{path}' has no data.pkl entry (not a PyTorch zip checkpoint)");
            try
            {
                using var stream = entry.Open();
                using var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                return buffer.ToArray();
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                throw new InvalidDataException($"checkpoint '{path}': its data.pkl cannot be read ({e.Message.ReplaceLineEndings(" ")})");
            }
        }
    }

    /// <summary>A dict or collections.OrderedDict: items in insertion order; re-setting a key keeps its place, as in Python.</summary>
    sealed class PickleDict
    {
        public readonly List<(object? Key, object? Value)> Items = [];
        readonly Dictionary<object, int> index = new();

        public void Set(object? key, object? value)
        {
            // Unhashable-in-practice keys (tuples, placeholders) compare by reference: they only ever add.
            if (key is not null && index.TryGetValue(key, out int at)) Items[at] = (key, value);
            else
            {
                if (key is not null) index[key] = Items.Count;
                Items.Add((key, value));
            }
        }

        public object? Get(string key) => index.TryGetValue(key, out int at) ? Items[at].Value : null;
    }

    sealed record PickleGlobal(string Module, string Name);

    /// <summary>Whatever a REDUCE, NEWOBJ or persistent id built, other than an OrderedDict: not looked into.</summary>
    sealed class Opaque
    {
        public static readonly Opaque Instance = new();
    }

    sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    sealed class Machine(byte[] data, string path)
    {
        readonly List<object?> stack = [];
        readonly Dictionary<long, object?> memo = new();
        int pos;

        public object? Run()
        {
            while (true)
            {
                int at = pos;
                byte op = U8();
                switch (op)
                {
                    case 0x80: U8(); break;                                                       // PROTO
                    case 0x95: Bytes(8); break;                                                   // FRAME (protocol 4 framing: a hint only)
                    case 0x2e: return Pop(at);                                                    // STOP
                    case 0x7d: stack.Add(new PickleDict()); break;                                // EMPTY_DICT
                    case 0x5d: stack.Add(new List<object?>()); break;                             // EMPTY_LIST
                    case 0x29: stack.Add(Array.Empty<object?>()); break;                          // EMPTY_TUPLE
                    case 0x28: stack.Add(Mark.Instance); break;                                   // MARK
                    case 0x30: Pop(at); break;                                                    // POP
                    case 0x31: PopMark(at); break;                                                // POP_MARK
                    case 0x32: stack.Add(Top(at)); break;                                         // DUP
                    case 0x58: stack.Add(Utf8(checked((int)U32()))); break;                       // BINUNICODE
                    case 0x8c: stack.Add(Utf8(U8())); break;                                      // SHORT_BINUNICODE
                    case 0x54: stack.Add(Latin1(I32(at))); break;                                 // BINSTRING
                    case 0x55: stack.Add(Latin1(U8())); break;                                    // SHORT_BINSTRING
                    case 0x42: stack.Add(Bytes(checked((int)U32())).ToArray()); break;            // BINBYTES
                    case 0x43: stack.Add(Bytes(U8()).ToArray()); break;                           // SHORT_BINBYTES
                    case 0x4a: stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break; // BININT
                    case 0x4b: stack.Add((long)U8()); break;                                      // BININT1
                    case 0x4d: stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break; // BININT2
                    case 0x8a: stack.Add(Long(U8())); break;                                      // LONG1
                    case 0x8b: stack.Add(Long(I32(at))); break;                                   // LONG4
                    case 0x47: stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break;  // BINFLOAT
                    // INT, LONG, FLOAT: decimal text lines (Razorvine's pickler writes an int64 beyond 32 bits as INT)
                    case 0x49 or 0x4c or 0x46: stack.Add(Line(at)); break;
                    case 0x88: stack.Add(true); break;                                            // NEWTRUE
                    case 0x89: stack.Add(false); break;                                           // NEWFALSE
                    case 0x4e: stack.Add(null); break;                                            // NONE
                    case 0x71: memo[U8()] = Top(at); break;                                       // BINPUT
                    case 0x72: memo[U32()] = Top(at); break;                                      // LONG_BINPUT
                    case 0x94: memo[memo.Count] = Top(at); break;                                 // MEMOIZE
                    case 0x68: stack.Add(Memo(U8(), at)); break;                                  // BINGET
                    case 0x6a: stack.Add(Memo(U32(), at)); break;                                 // LONG_BINGET
                    case 0x63: stack.Add(new PickleGlobal(Line(at), Line(at))); break;            // GLOBAL
                    case 0x93:                                                        // STACK_GLOBAL
                    {
                        var name = Pop(at) as string;
                        var module = Pop(at) as string;
                        if (name is null || module is null) throw Malformed(at, "STACK_GLOBAL without two strings");
                        stack.Add(new PickleGlobal(module, name));
                        break;
                    }
                    case 0x52:                                                        // REDUCE
                    {
                        Pop(at);
                        var callable = Pop(at);
                        stack.Add(callable is PickleGlobal { Module: "collections", Name: "OrderedDict" } ? new PickleDict() : Opaque.Instance);
                        break;
                    }
                    case 0x81: Pop(at); Pop(at); stack.Add(Opaque.Instance); break;               // NEWOBJ
                    case 0x51: Pop(at); stack.Add(Opaque.Instance); break;                        // BINPERSID
                    case 0x50: Line(at); stack.Add(Opaque.Instance); break;                       // PERSID
                    case 0x62: Pop(at); Top(at); break;                                           // BUILD: the state (attributes) is not needed
                    case 0x74: stack.Add(PopMark(at).ToArray()); break;                           // TUPLE
                    case 0x85: stack.Add(new[] { Pop(at) }); break;                               // TUPLE1
                    case 0x86: { var b = Pop(at); var a = Pop(at); stack.Add(new[] { a, b }); break; } // TUPLE2
                    case 0x87: { var c = Pop(at); var b = Pop(at); var a = Pop(at); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                    case 0x73:                                                        // SETITEM
                    {
                        var value = Pop(at);
                        var key = Pop(at);
                        DictOnTop(at).Set(key, value);
                        break;
                    }
                    case 0x75:                                                        // SETITEMS
                    {
                        var items = PopMark(at);
                        if (items.Count % 2 != 0) throw Malformed(at, "SETITEMS with an odd number of items");
                        var dict = DictOnTop(at);
                        for (int i = 0; i < items.Count; i += 2) dict.Set(items[i], items[i + 1]);
                        break;
                    }
                    case 0x61: { var value = Pop(at); ListOnTop(at)?.Add(value); break; }         // APPEND
                    case 0x65: { var items = PopMark(at); ListOnTop(at)?.AddRange(items); break; } // APPENDS
                    default:
                        throw new InvalidDataException($"checkpoint '{path}': unsupported pickle opcode 0x{op:x2} at byte {at} of data.pkl");
                }
            }
        }

        InvalidDataException Malformed(int at, string what) =>
            new($"checkpoint '{path}': malformed pickle at byte {at} of data.pkl ({what})");

        byte U8()
        {
            if (pos >= data.Length) throw Truncated();
            return data[pos++];
        }

        uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));

        int I32(int at)
        {
            int n = BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));
            return n >= 0 ? n : throw Malformed(at, "negative length");
        }

        ReadOnlySpan<byte> Bytes(int n)
        {
            if (n < 0 || n > data.Length - pos) throw Truncated();
            var span = data.AsSpan(pos, n);
            pos += n;
            return span;
        }

        InvalidDataException Truncated() =>
            new($"checkpoint '{path}': its pickle (data.pkl, {data.Length} bytes) ends early, at byte {pos}");

        string Utf8(int n) => Encoding.UTF8.GetString(Bytes(n));

        string Latin1(int n) => Encoding.Latin1.GetString(Bytes(n));

        /// <summary>A little-endian two's-complement integer of n bytes; only its presence matters, so big ones are kept as bytes.</summary>
        object Long(int n)
        {
            var bytes = Bytes(n);
            if (n == 0) return 0L;
            if (n > 8) return bytes.ToArray();
            long v = (sbyte)bytes[n - 1];
            for (int i = n - 2; i >= 0; i--) v = (v << 8) | bytes[i];
            return v;
        }

        /// <summary>A newline-terminated ASCII line (GLOBAL's module and name).</summary>
        string Line(int at)
        {
            int end = Array.IndexOf(data, (byte)'\n', pos);
            if (end < 0) throw Truncated();
            var s = Encoding.ASCII.GetString(data, pos, end - pos);
            pos = end + 1;
            return s;
        }

        object? Memo(long key, int at) =>
            memo.TryGetValue(key, out var v) ? v : throw Malformed(at, $"memo entry {key} read before it was written");

        object? Pop(int at)
        {
            if (stack.Count == 0 || stack[^1] is Mark) throw Malformed(at, "stack empty");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }

        object? Top(int at) => stack.Count == 0 || stack[^1] is Mark ? throw Malformed(at, "stack empty") : stack[^1];

        /// <summary>The items above the topmost MARK, removing them and the mark.</summary>
        List<object?> PopMark(int at)
        {
            int mark = stack.FindLastIndex(v => v is Mark);
            if (mark < 0) throw Malformed(at, "no MARK");
            var items = stack.GetRange(mark + 1, stack.Count - mark - 1);
            stack.RemoveRange(mark, stack.Count - mark);
            return items;
        }

        PickleDict DictOnTop(int at) => Top(at) as PickleDict ?? throw Malformed(at, "SETITEM(S) on something other than a dict");

        /// <summary>The list to append to; appends to other objects (e.g. a REDUCE'd list subclass) are dropped.</summary>
        List<object?>? ListOnTop(int at) => Top(at) as List<object?>;
    }
}
