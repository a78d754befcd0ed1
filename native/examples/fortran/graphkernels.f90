! graphkernels.f90 -- iso_c_binding interface to the GraphKernels C ABI (graphkernels.h):
! the neighbour list and the force/stress readout. Types and constants mirror the header exactly;
! every function returns a gk_status (0 = GK_SUCCESS). Pointers are c_ptr: device pointers for
! libgraphkernels, host pointers (c_loc of a TARGET array) for libgraphkernels_emulated.
module graphkernels
  use, intrinsic :: iso_c_binding
  implicit none
  private :: c_char

  integer(c_int32_t), parameter :: GK_SUCCESS = 0
  integer(c_int32_t), parameter :: GK_INDEX_INT32 = 0, GK_INDEX_INT64 = 1
  integer(c_int32_t), parameter :: GK_FS_CONSERVATIVE = 0, GK_FS_DIRECT = 1
  integer(c_int32_t), parameter :: GK_FS_TENSOR = 0, GK_FS_VOIGT_ASE = 1
  integer(c_int32_t), parameter :: GK_FS_VIRIAL = 1, GK_FS_GPA = 2

  type, bind(c) :: gk_nl_batch
    integer(c_int64_t) :: num_atoms, num_graphs
    integer(c_int32_t) :: index_type, reserved
    type(c_ptr) :: graph_atom_ptr, positions, cell, periodic
  end type

  type, bind(c) :: gk_nl_report
    integer(c_int64_t) :: num_edges, max_count, max_count_atom, overflow_atom, overflow_count
  end type

  type, bind(c) :: gk_fs_topology
    integer(c_int64_t) :: num_atoms, num_edges, num_graphs
    integer(c_int32_t) :: index_type, reserved
    type(c_ptr) :: graph_atom_ptr, src_ptr, edge_src, edge_dst, dst_ptr, dst_perm
  end type

  type, bind(c) :: gk_fs_geometry
    type(c_ptr) :: edge_vec, positions, shifts, cell, periodic
  end type

  interface
    function gk_last_error_message_c() bind(c, name="gk_last_error_message") result(p)
      import :: c_ptr
      type(c_ptr) :: p
    end function
    function gk_version_string_c() bind(c, name="gk_version_string") result(p)
      import :: c_ptr
      type(c_ptr) :: p
    end function
    function gk_neighbor_list_workspace_size(batch, bytes) bind(c)
      import :: gk_nl_batch, c_size_t, c_int32_t
      type(gk_nl_batch), intent(in) :: batch
      integer(c_size_t), intent(out) :: bytes
      integer(c_int32_t) :: gk_neighbor_list_workspace_size
    end function
    function gk_neighbor_list_count(batch, cutoff, max_neighbors, src_ptr, workspace, &
                                    workspace_bytes, report, stream) bind(c)
      import :: gk_nl_batch, gk_nl_report, c_double, c_int64_t, c_ptr, c_size_t, c_int32_t
      type(gk_nl_batch), intent(in) :: batch
      real(c_double), value :: cutoff
      integer(c_int64_t), value :: max_neighbors
      type(c_ptr), value :: src_ptr, workspace, stream
      integer(c_size_t), value :: workspace_bytes
      type(gk_nl_report), intent(out) :: report
      integer(c_int32_t) :: gk_neighbor_list_count
    end function
    function gk_neighbor_list_fill(batch, cutoff, src_ptr, num_edges, edge_src, edge_dst, &
                                   shifts, edge_vec, dst_perm, stream) bind(c)
      import :: gk_nl_batch, c_double, c_int64_t, c_ptr, c_int32_t
      type(gk_nl_batch), intent(in) :: batch
      real(c_double), value :: cutoff
      type(c_ptr), value :: src_ptr, edge_src, edge_dst, shifts, edge_vec, dst_perm, stream
      integer(c_int64_t), value :: num_edges
      integer(c_int32_t) :: gk_neighbor_list_fill
    end function
    ! Same output as gk_neighbor_list_fill, from the cell list the count left in the workspace.
    function gk_neighbor_list_fill_ws(batch, cutoff, src_ptr, workspace, workspace_bytes, num_edges, &
                                      edge_src, edge_dst, shifts, edge_vec, dst_perm, stream) bind(c)
      import :: gk_nl_batch, c_double, c_int64_t, c_ptr, c_int32_t, c_size_t
      type(gk_nl_batch), intent(in) :: batch
      real(c_double), value :: cutoff
      type(c_ptr), value :: src_ptr, workspace, edge_src, edge_dst, shifts, edge_vec, dst_perm, stream
      integer(c_size_t), value :: workspace_bytes
      integer(c_int64_t), value :: num_edges
      integer(c_int32_t) :: gk_neighbor_list_fill_ws
    end function
    function gk_force_stress_workspace_size(topology, flags, bytes) bind(c)
      import :: gk_fs_topology, c_int32_t, c_size_t
      type(gk_fs_topology), intent(in) :: topology
      integer(c_int32_t), value :: flags
      integer(c_size_t), intent(out) :: bytes
      integer(c_int32_t) :: gk_force_stress_workspace_size
    end function
    function gk_force_stress_readout(topology, geometry, mode, edge_quantity, layout, flags, &
                                     forces, stress, atom_virial, workspace, workspace_bytes, &
                                     stream) bind(c)
      import :: gk_fs_topology, gk_fs_geometry, c_int32_t, c_ptr, c_size_t
      type(gk_fs_topology), intent(in) :: topology
      type(gk_fs_geometry), intent(in) :: geometry
      integer(c_int32_t), value :: mode, layout, flags
      type(c_ptr), value :: edge_quantity, forces, stress, atom_virial, workspace, stream
      integer(c_size_t), value :: workspace_bytes
      integer(c_int32_t) :: gk_force_stress_readout
    end function
  end interface

contains

  !> Converts a NUL-terminated C string to a Fortran string.
  function gk_c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: n
    interface
      function strlen(q) bind(c, name="strlen")
        import :: c_ptr, c_size_t
        type(c_ptr), value :: q
        integer(c_size_t) :: strlen
      end function
    end interface
    n = int(strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: s)
    s = transfer(chars(1:n), s)
  end function

  !> gk_last_error_message() as a Fortran string.
  function gk_last_error_message() result(s)
    character(len=:), allocatable :: s
    s = gk_c_string(gk_last_error_message_c())
  end function

  !> gk_version_string() as a Fortran string.
  function gk_version_string() result(s)
    character(len=:), allocatable :: s
    s = gk_c_string(gk_version_string_c())
  end function

  !> Stops with the library's message when status is not GK_SUCCESS.
  subroutine gk_check(status, what)
    integer(c_int32_t), intent(in) :: status
    character(len=*), intent(in) :: what
    if (status /= GK_SUCCESS) then
      write(*, '(a, a, i0, a, a)') what, ' failed: status ', status, ': ', gk_last_error_message()
      error stop 1
    end if
  end subroutine
end module graphkernels
