! GraphKernels from Fortran: the C example (../c/lj_fcc.c) through the iso_c_binding module.
! FCC argon, periodic neighbour list, Lennard-Jones per-edge gradients, force/stress readout on the
! emulated library (host arrays; with the CUDA library pass device pointers instead).
!   lj_fcc_f [cells] [displace]     same arguments and output lines as the C example
program lj_fcc_f
  use, intrinsic :: iso_c_binding
  use graphkernels
  implicit none
  real(c_double), parameter :: eps = 0.0104d0, sigma = 3.405d0, alat = 5.26d0, rc = 8.5d0
  real(c_double), parameter :: basis(3, 4) = reshape([0d0, 0d0, 0d0, 0.5d0, 0.5d0, 0d0, &
                                                      0.5d0, 0d0, 0.5d0, 0d0, 0.5d0, 0.5d0], [3, 4])
  integer :: cells, displace, n, x, y, z, b, k, i
  integer(c_int64_t) :: e, ne
  character(len=32) :: arg
  real(c_float), allocatable, target :: pos(:, :), edge_vec(:, :), g(:, :), forces(:, :)
  integer(c_int32_t), allocatable, target :: src_ptr(:), edge_src(:), edge_dst(:), dst_perm(:), shifts(:, :)
  integer(c_int64_t), allocatable, target :: ws(:), fs_ws(:)
  real(c_float), target :: cell(3, 3), stress(9)
  integer(c_int32_t), target :: graph_atom_ptr(2)
  real(c_double) :: p(3), r, s6, dphi, energy
  type(gk_nl_batch) :: batch
  type(gk_nl_report) :: report
  type(gk_fs_topology) :: topo
  type(gk_fs_geometry) :: geo
  integer(c_size_t) :: bytes, fs_bytes

  cells = 3
  displace = 0
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg)
    read(arg, *) cells
  end if
  if (command_argument_count() >= 2) then
    call get_command_argument(2, arg)
    read(arg, *) displace
  end if
  n = 4 * cells**3
  write(*, '(a, a)') '# GraphKernels (Fortran) ', gk_version_string()

  ! cell(:, j) is lattice vector j: column-major storage gives the C layout [3][3] with rows = vectors.
  cell = 0
  cell(1, 1) = real(alat * cells, c_float)
  cell(2, 2) = real(alat * cells, c_float)
  cell(3, 3) = real(alat * cells, c_float)
  allocate(pos(3, n))
  k = 0
  do x = 0, cells - 1
    do y = 0, cells - 1
      do z = 0, cells - 1
        do b = 1, 4
          p = ([real(x, c_double), real(y, c_double), real(z, c_double)] + basis(:, b)) * alat
          if (displace /= 0) then
            p(1) = p(1) + 0.15d0 * sin(1d0 + k)
            p(2) = p(2) + 0.15d0 * cos(2d0 * k + 1d0)
            p(3) = p(3) + 0.10d0 * sin(3d0 * k + 2d0)
          end if
          pos(:, k + 1) = real(p, c_float)
          k = k + 1
        end do
      end do
    end do
  end do
  write(*, '(a, 9(1x, es16.9))') 'cell', cell
  do i = 1, n
    write(*, '(a, 1x, i0, 3(1x, es16.9))') 'position', i - 1, pos(:, i)
  end do

  ! Neighbour list: count, allocate, fill.
  graph_atom_ptr = [0, n]
  batch = gk_nl_batch(int(n, c_int64_t), 1_c_int64_t, GK_INDEX_INT32, 0_c_int32_t, &
                      c_loc(graph_atom_ptr), c_loc(pos), c_loc(cell), c_null_ptr)
  call gk_check(gk_neighbor_list_workspace_size(batch, bytes), 'gk_neighbor_list_workspace_size')
  allocate(ws((bytes + 7) / 8), src_ptr(n + 1))
  call gk_check(gk_neighbor_list_count(batch, rc, 0_c_int64_t, c_loc(src_ptr), c_loc(ws), bytes, &
                                       report, c_null_ptr), 'gk_neighbor_list_count')
  ne = report%num_edges
  allocate(edge_src(ne), edge_dst(ne), dst_perm(ne), shifts(3, ne), edge_vec(3, ne), g(3, ne))
  call gk_check(gk_neighbor_list_fill(batch, rc, c_loc(src_ptr), ne, c_loc(edge_src), c_loc(edge_dst), &
                                      c_loc(shifts), c_loc(edge_vec), c_loc(dst_perm), c_null_ptr), &
                'gk_neighbor_list_fill')
  write(*, '(a, i0, a, i0, a)') '# ', ne, ' edges, at most ', report%max_count, ' neighbours per atom'

  ! Lennard-Jones: E = 1/2 sum_e phi(|r_e|), g_e = dE/dr_e = 1/2 phi'(|r_e|) r_e/|r_e|.
  energy = 0
  do e = 1, ne
    r = sqrt(sum(real(edge_vec(:, e), c_double)**2))
    s6 = (sigma / r)**6
    energy = energy + 0.5d0 * 4d0 * eps * (s6 * s6 - s6)
    dphi = 4d0 * eps * (-12d0 * s6 * s6 + 6d0 * s6) / r
    g(:, e) = real(0.5d0 * dphi * real(edge_vec(:, e), c_double) / r, c_float)
  end do

  ! Readout: the list is its own topology (dst_ptr = src_ptr).
  topo = gk_fs_topology(int(n, c_int64_t), ne, 1_c_int64_t, GK_INDEX_INT32, 0_c_int32_t, &
                        c_loc(graph_atom_ptr), c_loc(src_ptr), c_loc(edge_src), c_loc(edge_dst), &
                        c_loc(src_ptr), c_loc(dst_perm))
  geo = gk_fs_geometry(c_loc(edge_vec), c_null_ptr, c_null_ptr, c_loc(cell), c_null_ptr)
  call gk_check(gk_force_stress_workspace_size(topo, 0_c_int32_t, fs_bytes), 'gk_force_stress_workspace_size')
  allocate(fs_ws((fs_bytes + 7) / 8 + 1), forces(3, n))
  call gk_check(gk_force_stress_readout(topo, geo, GK_FS_CONSERVATIVE, c_loc(g), GK_FS_TENSOR, 0_c_int32_t, &
                                        c_loc(forces), c_loc(stress), c_null_ptr, c_loc(fs_ws), fs_bytes, &
                                        c_null_ptr), 'gk_force_stress_readout')

  write(*, '(a, 1x, es18.10)') 'energy', energy
  do i = 1, n
    write(*, '(a, 1x, i0, 3(1x, es16.8))') 'force', i - 1, forces(:, i)
  end do
  write(*, '(a, 9(1x, es16.8))') 'stress', stress
end program
