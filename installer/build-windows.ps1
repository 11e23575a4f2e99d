# Build the Windows bundle and the per-user installer, run the bundled --self-check, and print
# the bundle size, the build time and the start times.
#
#   powershell -ExecutionPolicy Bypass -File installer\build-windows.ps1
#
# Needs: 64-bit Python 3.11 or newer (the py launcher or python on the PATH) and Inno Setup
# 6.3 or newer (ISCC.exe on the PATH or in its default folder). Set $env:SIGNTOOL_ARGS to
# sign both programs and the installer, for example '/a /fd SHA256 /tr <timestamp URL> /td SHA256'.
# Output: dist\missed-call-desk\ (the bundle) and dist\MissedCallDesk-<version>-setup.exe.
param(
    [string]$Venv = ".venv",
    [switch]$SkipInstaller
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest
$Root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
Set-Location $Root

function Invoke-Checked {
    # Run a program and stop the build when it exits with an error.
    param([string]$Program, [string[]]$Arguments)
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$Program $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Measure-Start {
    # Time one start of the bundled console program, in seconds.
    param([string]$Exe, [string[]]$Arguments)
    # Only stdout is piped: Windows PowerShell 5.1 turns redirected stderr lines into errors.
    $watch = [Diagnostics.Stopwatch]::StartNew()
    & $Exe @Arguments | ForEach-Object { Write-Host $_ }
    $watch.Stop()
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
    return [math]::Round($watch.Elapsed.TotalSeconds, 2)
}

# 1. The build environment.
$Python = Join-Path (Join-Path $Root $Venv) "Scripts\python.exe"
if (-not (Test-Path $Python)) {
    if (Get-Command py -ErrorAction SilentlyContinue) {
        Invoke-Checked "py" @("-3", "-m", "venv", $Venv)
    } else {
        Invoke-Checked "python" @("-m", "venv", $Venv)
    }
}
Invoke-Checked $Python @("-m", "pip", "install", "-q", "--upgrade", "pip")
Invoke-Checked $Python @("-m", "pip", "install", "-q", "-e", ".[build]")

$Version = (& $Python installer\appmeta.py version).Trim()
$VersionWin = (& $Python installer\appmeta.py windows-version).Trim()
Write-Host "Building Missed-Call Desk $Version ($VersionWin) for Windows"

# 2. The one-folder bundle: missed-call-desk.exe (console) and MissedCallDesk.exe (windowed).
$watch = [Diagnostics.Stopwatch]::StartNew()
Invoke-Checked $Python @("-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
    "--distpath", "dist", "--workpath", "build\pyinstaller", "installer\missed-call-desk.spec")
$watch.Stop()
$BuildSeconds = [math]::Round($watch.Elapsed.TotalSeconds, 1)
$Bundle = Join-Path $Root "dist\missed-call-desk"
$Cli = Join-Path $Bundle "missed-call-desk.exe"
$Gui = Join-Path $Bundle "MissedCallDesk.exe"

if ($env:SIGNTOOL_ARGS) {
    foreach ($exe in @($Cli, $Gui)) {
        Invoke-Checked "signtool" (@("sign") + ($env:SIGNTOOL_ARGS -split " ") + @($exe))
    }
}

# 3. The bundled self-check and start times, with no Python on the PATH. The first start
# after a build is as cold as this script can make it (Windows caches files, and Defender
# scans new executables on their first start, so expect the first number to be the largest).
$SavedPath = $env:Path
$env:Path = "$env:SystemRoot\System32;$env:SystemRoot"
try {
    $found = @("python", "python3") | Where-Object { Get-Command $_ -ErrorAction SilentlyContinue }
    if ($found) {
        throw "python is still on the PATH of the check"
    }
    $VersionCold = Measure-Start $Cli @("--version")
    $VersionWarm = Measure-Start $Cli @("--version")
    $CheckCold = Measure-Start $Cli @("--self-check")
    $CheckWarm = Measure-Start $Cli @("--self-check")
} finally {
    $env:Path = $SavedPath
}

$Files = Get-ChildItem $Bundle -Recurse -File
$BundleMB = [math]::Round(($Files | Measure-Object Length -Sum).Sum / 1e6, 1)

# 4. The installer.
$Setup = $null
if (-not $SkipInstaller) {
    $Iscc = $null
    $command = Get-Command ISCC.exe -ErrorAction SilentlyContinue
    if ($command) { $Iscc = $command.Source }
    foreach ($candidate in @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe",
                             "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
                             "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe")) {
        if (-not $Iscc -and (Test-Path $candidate)) { $Iscc = $candidate }
    }
    if (-not $Iscc) { throw "ISCC.exe (Inno Setup 6) not found; install it or pass -SkipInstaller" }
    Invoke-Checked $Iscc @("/Q", "/DAppVersion=$Version", "/DAppVersionWin=$VersionWin",
        "installer\windows\missed-call-desk.iss")
    $Setup = Join-Path $Root "dist\MissedCallDesk-$Version-setup.exe"
    if ($env:SIGNTOOL_ARGS) {
        Invoke-Checked "signtool" (@("sign") + ($env:SIGNTOOL_ARGS -split " ") + @($Setup))
    }
}

Write-Host ""
Write-Host "Missed-Call Desk $Version, Windows"
Write-Host "  PyInstaller build:  $BuildSeconds s"
Write-Host "  bundle:             $BundleMB MB in $($Files.Count) files ($Bundle)"
if ($Setup) {
    Write-Host "  installer:          $([math]::Round((Get-Item $Setup).Length / 1e6, 1)) MB ($Setup)"
}
Write-Host "  --version:          $VersionCold s first start, $VersionWarm s warm"
Write-Host "  --self-check:       $CheckCold s first start, $CheckWarm s warm"
