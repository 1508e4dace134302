using System.Runtime.InteropServices;

namespace AdaBits.Distributed;

/// <summary>
/// The few calls of the standard MPI C API that data-parallel training needs, bound to Open MPI's
/// libmpi.so.40 (Open MPI 4.x, Debian's libopenmpi3). Hand-written because no maintained .NET binding
/// targets Open MPI on Linux (MPI.NET is built for Microsoft MPI on Windows). Open MPI's predefined
/// handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of exported globals, and
/// MPI_IN_PLACE is (void*)1. Nothing here is touched, and no library is loaded, until <see cref="Load"/>.
/// </summary>
internal static unsafe class MpiNative
{
    public const string Library = "libmpi.so.40";
    public const int ThreadSerialized = 2;   // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
    public static readonly nint InPlace = 1;

    const int RtldNow = 0x2, RtldGlobal = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")]
    static extern nint DlOpen(string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    static extern nint DlError();

    static nint lib;
    public static nint CommWorld, Float, Double, Int64, Byte, OpSum;
    static delegate* unmanaged<int*, nint, int, int*, int> initThread;
    static delegate* unmanaged<int*, int> initialized, finalized;
    static delegate* unmanaged<int> finalize;
    static delegate* unmanaged<nint, int*, int> commRank, commSize;
    static delegate* unmanaged<void*, int, nint, int, nint, int> bcast;
    static delegate* unmanaged<void*, void*, int, nint, nint, nint, int> allreduce;
    static delegate* unmanaged<nint, int> barrier;
    static delegate* unmanaged<nint, int, int> abort;

    public static bool Loaded => lib != 0;

    /// <summary>
    /// Loads libmpi with RTLD_GLOBAL: Open MPI's components (plugins it dlopens itself) resolve their
    /// symbols against libmpi's, which a private (RTLD_LOCAL) load, as NativeLibrary.Load does, hides.
    /// </summary>
    public static void Load()
    {
        if (lib != 0) return;
        nint h = DlOpen(Library, RtldNow | RtldGlobal);
        if (h == 0)
        {
            string why = Marshal.PtrToStringUTF8(DlError()) ?? "not found";
            throw new DllNotFoundException($"started by an MPI launcher, but {Library} could not be loaded ({why}): install Open MPI 4 (Debian: openmpi-bin libopenmpi3)");
        }
        CommWorld = Export(h, "ompi_mpi_comm_world");
        Float = Export(h, "ompi_mpi_float");
        Double = Export(h, "ompi_mpi_double");
        Int64 = Export(h, "ompi_mpi_int64_t");
        Byte = Export(h, "ompi_mpi_byte");
        OpSum = Export(h, "ompi_mpi_op_sum");
        initThread = (delegate* unmanaged<int*, nint, int, int*, int>)Export(h, "MPI_Init_thread");
        initialized = (delegate* unmanaged<int*, int>)Export(h, "MPI_Initialized");
        finalized = (delegate* unmanaged<int*, int>)Export(h, "MPI_Finalized");
        finalize = (delegate* unmanaged<int>)Export(h, "MPI_Finalize");
        commRank = (delegate* unmanaged<nint, int*, int>)Export(h, "MPI_Comm_rank");
        commSize = (delegate* unmanaged<nint, int*, int>)Export(h, "MPI_Comm_size");
        bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Export(h, "MPI_Bcast");
        allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Export(h, "MPI_Allreduce");
        barrier = (delegate* unmanaged<nint, int>)Export(h, "MPI_Barrier");
        abort = (delegate* unmanaged<nint, int, int>)Export(h, "MPI_Abort");
        lib = h;
    }

    static nint Export(nint h, string name) =>
        NativeLibrary.TryGetExport(h, name, out var p) ? p
            : throw new EntryPointNotFoundException($"{Library} has no '{name}': Open MPI 4 is needed (another MPI's ABI differs)");

    static void Check(int rc, string call)
    {
        // MPI_COMM_WORLD's default handler (MPI_ERRORS_ARE_FATAL) aborts before we see a code; this is a backstop.
        if (rc != 0) throw new InvalidOperationException($"{call} failed with MPI error code {rc}");
    }

    /// <summary>MPI_Init_thread(NULL, NULL, required, &amp;provided): the provided level.</summary>
    public static int InitThread(int required)
    {
        int provided;
        Check(initThread(null, 0, required, &provided), "MPI_Init_thread");
        return provided;
    }

    public static bool Initialized()
    {
        int flag;
        Check(initialized(&flag), "MPI_Initialized");
        return flag != 0;
    }

    public static bool Finalized()
    {
        int flag;
        Check(finalized(&flag), "MPI_Finalized");
        return flag != 0;
    }

    public static void FinalizeMpi() => Check(finalize(), "MPI_Finalize");

    public static int CommRank(nint comm)
    {
        int r;
        Check(commRank(comm, &r), "MPI_Comm_rank");
        return r;
    }

    public static int CommSize(nint comm)
    {
        int s;
        Check(commSize(comm, &s), "MPI_Comm_size");
        return s;
    }

    public static void Bcast(void* buffer, int count, nint type, int root, nint comm) =>
        Check(bcast(buffer, count, type, root, comm), "MPI_Bcast");

    /// <summary>In-place all-reduce: every rank's buffer becomes the reduction of all of them.</summary>
    public static void AllReduceInPlace(void* buffer, int count, nint type, nint op, nint comm) =>
        Check(allreduce((void*)InPlace, buffer, count, type, op, comm), "MPI_Allreduce");

    public static void Barrier(nint comm) => Check(barrier(comm), "MPI_Barrier");

    public static void Abort(nint comm, int code) => abort(comm, code);
}
