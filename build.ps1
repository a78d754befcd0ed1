#!/usr/bin/env pwsh
# GraphKernels build script: the same steps as .ci/run, one verb at a time.
#   ./build.ps1 build   native libraries (emulated; CUDA when nvcc is found) and every C# project
#   ./build.ps1 test    the README's test command (dotnet test) and the C-level suite (CTest),
#                       plain and under ASan+UBSan and TSan (Linux)
#   ./build.ps1 bench   the BenchmarkDotNet suites (short job on the emulated device)
#   ./build.ps1 pack    NuGet packages into ./artifacts: GraphKernels (managed) and GraphKernels.Native
param([Parameter(Position = 0)][ValidateSet('build', 'test', 'bench', 'pack')][string]$Verb = 'build')
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot
if ((Test-Path /usr/bin/clang++-14) -and -not $env:CUDAHOSTCXX) { $env:CUDAHOSTCXX = '/usr/bin/clang++-14' }

function Invoke-Step([string]$what, [scriptblock]$body) {
    Write-Host "=== $what"
    & $body
    if ($LASTEXITCODE -ne 0) { throw "$what failed (exit $LASTEXITCODE)" }
}

function Invoke-CTest([string]$name, [string[]]$cmakeArgs) {
    $dir = "build/ps-$name"
    Invoke-Step "configure $name" { cmake -S . -B $dir -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGK_BUILD_CUDA=OFF @cmakeArgs }
    Invoke-Step "build $name" { cmake --build $dir -j 2 }
    Invoke-Step "ctest $name" { ctest --test-dir $dir --output-on-failure --timeout 600 }
}

switch ($Verb) {
    'build' {
        Invoke-Step 'native (CUDA if nvcc is present)' { cmake -S . -B build/cuda -DCMAKE_BUILD_TYPE=Release -DGK_BUILD_TESTS=OFF }
        Invoke-Step 'native build' { cmake --build build/cuda -j 2 }
        Invoke-Step 'dotnet build' { dotnet build GraphKernels.sln -c Release }
    }
    'test' {
        Invoke-Step 'dotnet test' { dotnet test }
        Invoke-CTest 'plain' @()
        if ($IsLinux) {
            Invoke-CTest 'asan' @('-DGK_SANITIZE=address')
            Invoke-CTest 'tsan' @('-DGK_SANITIZE=thread')
        }
    }
    'bench' {
        Invoke-Step 'benchmarks' { dotnet run -c Release --project bench/GraphKernels.Bench -- --filter '*' }
    }
    'pack' {
        Invoke-Step 'pack' { dotnet pack managed/GraphKernels/GraphKernels.csproj -c Release -o artifacts }
        Invoke-Step 'pack native' { dotnet pack packaging/GraphKernels.Native/GraphKernels.Native.csproj -c Release -o artifacts }
    }
}
