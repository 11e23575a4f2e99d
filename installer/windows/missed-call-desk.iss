; Inno Setup 6 script for Missed-Call Desk: a per-user install that needs no admin rights.
;
; build-windows.ps1 compiles it after PyInstaller, passing the version it read from
; desktop_app/__init__.py:
;   ISCC.exe /DAppVersion=0.1.0 /DAppVersionWin=0.1.0.0 installer\windows\missed-call-desk.iss
; Output: dist\MissedCallDesk-<version>-setup.exe

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=X.Y.Z /DAppVersionWin=X.Y.Z.0 (build-windows.ps1 does)
#endif
#ifndef AppVersionWin
  #define AppVersionWin AppVersion
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\missed-call-desk"
#endif

#define AppName "Missed-Call Desk"
#define GuiExe "MissedCallDesk.exe"
#define CliExe "missed-call-desk.exe"
; The app's data folder: platformdirs.user_data_dir("missed-call-desk", "MissedCallDesk")
; on Windows, with its logs in the Logs subfolder (see desktop_app/core/paths.py).
#define DataParent "{localappdata}\MissedCallDesk"
#define DataDir DataParent + "\missed-call-desk"

[Setup]
; AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{5B0E8C3A-6F2D-4B7E-9A41-2C8D7E3F1A65}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Missed-Call Desk
VersionInfoVersion={#AppVersionWin}
VersionInfoProductVersion={#AppVersionWin}
VersionInfoProductTextVersion={#AppVersion}
; Per user, no UAC prompt: {autopf} resolves to {userpf} (%LOCALAPPDATA%\Programs).
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=MissedCallDesk-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\app.ico
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
; Closes a running copy (it sits in the tray) before files are replaced or removed.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startup"; Description: "Start {#AppName} when I sign in to Windows (recommended: it answers missed calls only while it runs)"; GroupDescription: "Start-up:"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; Remove the previous version's libraries first, so one dropped from the bundle does not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Registry]
; HKCU Run key: starts the app at sign-in for this user only; removed by the uninstaller.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#AppName}"; ValueData: """{app}\{#GuiExe}"""; Flags: uninsdeletevalue; Tasks: startup

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
var
  RemoveUserData: Boolean;

{ True when the uninstaller was started with /REMOVEDATA (for silent uninstalls). }
function RemoveDataRequested(): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), '/REMOVEDATA') = 0 then
      Result := True;
end;

{ Ask whether to delete the user's data too. The default answer keeps it, so a reinstall
  or an upgrade by uninstalling first loses nothing. }
function InitializeUninstall(): Boolean;
var
  UserDataDir: String;
begin
  Result := True;
  UserDataDir := ExpandConstant('{#DataDir}');
  RemoveUserData := RemoveDataRequested();
  if (not RemoveUserData) and (not UninstallSilent()) and DirExists(UserDataDir) then
    RemoveUserData := MsgBox(
      'Also delete your Missed-Call Desk data?' + #13#10 + #13#10 +
      'This removes every call, contact, task, follow-up step, setting and log in' + #13#10 +
      UserDataDir + #13#10 + #13#10 +
      'Choose No to keep it for a later reinstall.',
      mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  UserDataDir: String;
begin
  if (CurUninstallStep = usPostUninstall) and RemoveUserData then
  begin
    UserDataDir := ExpandConstant('{#DataDir}');
    if DirExists(UserDataDir) and not DelTree(UserDataDir, True, True, True) then
      SuppressibleMsgBox('Could not delete ' + UserDataDir + '. Close any program using it and ' +
        'delete the folder by hand.', mbError, MB_OK, IDOK);
    { Remove the MissedCallDesk parent folder too, but only if nothing else is in it. }
    RemoveDir(ExpandConstant('{#DataParent}'));
  end;
end;
